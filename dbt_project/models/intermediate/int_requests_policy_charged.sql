-- Steps 4 to 7 of pricing-rules.md under every pricing policy: one row per request of int_requests_trial_applied and
-- distinct set of knobs (`knob_set`; 0 is the current pricing, the vars). The one pricing path: the current charge
-- (int_requests_charged, knob_set 0) and every what-if scenario (int_pricing_policy_daily) are rows of this view.
-- Charges are rounded half to even on integer pico-dollars (macros/pricing.sql, money.sql); a view, computed where
-- it is read (a reader of knob_set 0 prices one set).
{{ config(materialized='view') }}
{%- set sets = policy_knob_sets(pricing_policies()) %}
{%- set knob_sets, markups = sets['knob_sets'], sets['markups'] %}

with requests as (
    -- the cost in integer pico-dollars once per request, before the knob sets multiply the rows
    select
        * except (trial_tokens, chargeable_tokens, is_trial_covered),
        {{ usd_to_units('provider_cost_usd') }} as provider_cost_units
    from {{ ref('int_requests_trial_applied') }}
),

knob_sets as (
    select * from (values
        {%- for policy in knob_sets %}
        ({{ loop.index0 }}, {{ markup_factor_units(policy['markup_percentage']) }},
         {{ usd_to_units(minimum_charge_usd(policy['minimum_charge_usd'], 'pricing_scenarios.' ~ policy['name'])) }},
         cast({{ policy['free_trial_tokens'] }} as bigint)){{ "," if not loop.last }}
        {%- endfor %}
    ) as knob_sets (knob_set, set_markup_factor_units, set_minimum_units, set_free_trial_tokens)
),
{%- if markups %}

policy_markups as (
    -- per-model and per-provider markups of each set: the model's wins over the provider's over the set's own
    select * from (values
        {%- for name, kind, key, factor in markups %}
        ({{ name }}, '{{ kind }}', '{{ key }}', {{ factor }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as policy_markups (knob_set, kind, markup_key, markup_factor_units)
),
{%- endif %}

policy_requests as (
    select
        requests.*,
        knob_sets.*,
        {%- if markups %}
        coalesce(model_markups.markup_factor_units, provider_markups.markup_factor_units,
                 knob_sets.set_markup_factor_units) as markup_factor_units,
        {%- else %}
        knob_sets.set_markup_factor_units as markup_factor_units,
        {%- endif %}
        {{ trial_tokens_expr('knob_sets.set_free_trial_tokens') }} as trial_tokens
    from requests
    cross join knob_sets
    {%- if markups %}
    left join policy_markups as model_markups
        on model_markups.kind = 'model' and model_markups.knob_set = knob_sets.knob_set
        and model_markups.markup_key = requests.model
    left join policy_markups as provider_markups
        on provider_markups.kind = 'provider' and provider_markups.knob_set = knob_sets.knob_set
        and provider_markups.markup_key = requests.provider
    {%- endif %}
),

trial_applied as (
    select
        *,
        {{ chargeable_tokens_expr() }} as chargeable_tokens,
        {{ is_trial_covered_expr('set_free_trial_tokens') }} as is_trial_covered,
        {{ marked_up_units_x1e6_expr('markup_factor_units') }} as marked_up_units_x1e6
    from policy_requests
),

rounded as (
    select
        *,
        {{ list_units_expr() }} as list_units,
        {{ charge_units_expr() }} as charge_units
    from trial_applied
),

charged as (
    -- steps 5 and 7 in pico-dollars (the minimum applies to billed, priced requests the trial does not cover)
    select
        * except (marked_up_units_x1e6, list_units, charge_units),
        case
            when not is_billed then 0
            when not has_price then null
            when is_trial_covered then 0
            else greatest(charge_units, set_minimum_units)
        end as user_charge_units,
        case
            when not is_billed then 0
            when not has_price then null
            else greatest(list_units, set_minimum_units)
        end as list_charge_units,
        coalesce(is_billed and has_price and not is_trial_covered and charge_units < set_minimum_units, false)
            as is_minimum_charge
    from rounded
),

final as (
    -- the same in USD (DECIMAL(38,12)), for readers of one request's charge (int_requests_charged)
    select
        *,
        cast((markup_factor_units - 1000000) * 0.0001 as decimal(9, 4)) as markup_percentage,
        cast({{ units_to_usd('user_charge_units') }} as decimal(38, 12)) as user_charge_usd,
        cast({{ units_to_usd('list_charge_units') }} as decimal(38, 12)) as list_charge_usd,
        cast({{ units_to_usd('user_charge_units - provider_cost_units') }} as decimal(38, 12)) as markup_usd,
        cast({{ units_to_usd('list_charge_units - user_charge_units') }} as decimal(38, 12)) as trial_credit_usd
    from charged
)

select * from final
