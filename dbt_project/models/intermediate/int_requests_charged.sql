-- Steps 5 to 7 of pricing-rules.md: what the user is charged, the markup (profit), the list charge and the trial
-- credit. The markup is the model's, else its provider's, else the global one (dbt vars). All divisions are done
-- on integer pico-dollars and rounded half to even at 12 places, here and only here (macros/pricing.sql).
-- A view: the charges are per-row arithmetic on int_requests_trial_applied, computed when ai_usage_analytics reads them.
{{ config(materialized='view', tags=['daily']) }}
{%- set policy = pricing_policy() %}
{%- set minimum = minimum_charge_usd(policy['minimum_charge_usd']) %}
with requests as (
    select * from {{ ref('int_requests_trial_applied') }}
),

factors as (
    select
        *,
        {{ usd_to_units('provider_cost_usd') }} as provider_cost_units,
        {{ markup_factor_expr(policy) }} as markup_factor_units
    from requests
),

units as (
    select
        *,
        {{ marked_up_units_x1e6_expr('markup_factor_units') }} as marked_up_units_x1e6
    from factors
),

rounded as (
    select
        *,
        {{ list_units_expr() }} as list_units,
        {{ charge_units_expr() }} as charge_units
    from units
),

charged as (
    select
        *,
        {{ user_charge_usd_expr(minimum) }} as user_charge_usd,
        {{ list_charge_usd_expr(minimum) }} as list_charge_usd,
        {{ hits_minimum_charge_expr(minimum) }} as is_minimum_charge
    from rounded
),

final as (
    select
        * except (provider_cost_units, markup_factor_units, marked_up_units_x1e6, list_units, charge_units),
        cast((markup_factor_units - 1000000) * 0.0001 as decimal(9, 4)) as markup_percentage,
        cast(user_charge_usd - provider_cost_usd as decimal(38, 12)) as markup_usd,
        cast(list_charge_usd - user_charge_usd as decimal(38, 12)) as trial_credit_usd
    from charged
)

select * from final
