-- Steps 5 to 7 of pricing-rules.md: what the user is charged, the markup (profit), the list charge and the trial
-- credit. All divisions are done on integer pico-dollars and rounded half to even at 12 places, here and only here.
with requests as (
    select * from {{ ref('int_requests_trial_applied') }}
),

units as (
    select
        *,
        {{ usd_to_units('provider_cost_usd') }} * {{ markup_factor_units() }} as marked_up_units_x1e6,
        case when total_tokens = 0 then 1 else chargeable_tokens end as fraction_numerator,
        case when total_tokens = 0 then 1 else total_tokens end as fraction_denominator
    from requests
),

rounded as (
    select
        *,
        {{ divide_half_even('marked_up_units_x1e6', '1000000') }} as list_units,
        {{ divide_half_even(
            'marked_up_units_x1e6 * fraction_numerator',
            'cast(1000000 as hugeint) * fraction_denominator') }} as charge_units
    from units
),

charged as (
    select
        *,
        case
            when not is_billed then cast(0 as decimal(38, 12))
            when not has_price then null
            when is_trial_covered then cast(0 as decimal(38, 12))
            else greatest({{ units_to_usd('charge_units') }}, {{ minimum_charge_usd() }})
        end as user_charge_usd,
        case
            when not is_billed then cast(0 as decimal(38, 12))
            when not has_price then null
            else greatest({{ units_to_usd('list_units') }}, {{ minimum_charge_usd() }})
        end as list_charge_usd
    from rounded
),

final as (
    select
        * exclude (marked_up_units_x1e6, fraction_numerator, fraction_denominator, list_units, charge_units),
        cast(user_charge_usd - provider_cost_usd as decimal(38, 12)) as markup_usd,
        cast(list_charge_usd - user_charge_usd as decimal(38, 12)) as trial_credit_usd
    from charged
)

select * from final
