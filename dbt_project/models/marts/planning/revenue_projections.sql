-- The platform guide's projections, computed right. Each row of seeds/projection_scenarios.csv is a scenario:
-- revenue = messages per day x average charge per message; the charge carries the markup on the provider's cost,
-- so cost = revenue / (1 + markup/100) and profit = revenue - cost. With a 25% markup profit is 25/125 = 20% of
-- revenue (the guide takes 25% of revenue, which overstates profit by a quarter).
-- Money is exact: the division by (1 + markup/100) is done on integer pico-dollars, rounded half to even at 12
-- places (macros/money.sql). Daily and monthly figures are each rounded once, from the revenue.
{%- set days_per_month = var('projection_days_per_month') | string | trim -%}
{%- if not modules.re.match('^[1-9][0-9]{0,3}$', days_per_month) -%}
    {{ exceptions.raise_compiler_error(
        "dbt var 'projection_days_per_month' = " ~ days_per_month[:40] ~ " must be a whole number of days, 1..9999; "
        ~ "set it like --vars '{projection_days_per_month: 30}'.") }}
{%- endif %}

with scenarios as (
    select * from {{ ref('projection_scenarios') }}
),

revenue as (
    select
        scenario,
        active_users,
        messages_per_day,
        cast(avg_charge_per_message_usd as decimal(38, 12)) as avg_charge_per_message_usd,
        cast(messages_per_day * avg_charge_per_message_usd as decimal(38, 12)) as daily_revenue_usd,
        cast(messages_per_day * avg_charge_per_message_usd * {{ days_per_month }} as decimal(38, 12))
            as monthly_revenue_usd
    from scenarios
),

costed as (
    select
        *,
        {{ units_to_usd(divide_half_even(
            usd_to_units('daily_revenue_usd') ~ ' * 1000000', markup_factor_units())) }} as daily_provider_cost_usd,
        {{ units_to_usd(divide_half_even(
            usd_to_units('monthly_revenue_usd') ~ ' * 1000000', markup_factor_units())) }}
            as monthly_provider_cost_usd
    from revenue
),

final as (
    select
        scenario,
        active_users,
        messages_per_day,
        cast(round(messages_per_day / active_users, 4) as decimal(18, 4)) as messages_per_user_per_day,
        avg_charge_per_message_usd,
        cast({{ markup_percentage_text() }} as decimal(9, 4)) as markup_percentage,
        cast(round(100 * {{ markup_percentage_text() }} / (100 + {{ markup_percentage_text() }}), 4) as decimal(9, 4))
            as profit_percent_of_revenue,
        {{ days_per_month }} as days_per_month,
        daily_revenue_usd,
        cast(daily_provider_cost_usd as decimal(38, 12)) as daily_provider_cost_usd,
        cast(daily_revenue_usd - daily_provider_cost_usd as decimal(38, 12)) as daily_profit_usd,
        monthly_revenue_usd,
        cast(monthly_provider_cost_usd as decimal(38, 12)) as monthly_provider_cost_usd,
        cast(monthly_revenue_usd - monthly_provider_cost_usd as decimal(38, 12)) as monthly_profit_usd
    from costed
    order by active_users, scenario
)

select * from final
