-- Projections from what users actually do: over a trailing window (var projection_window_days, default 30 days,
-- ending at the latest day in the data), the observed revenue, provider cost and trial credit per active user per
-- day, scaled to each scenario's active_users (seeds/projection_scenarios.csv). The minimum charge, the free trial
-- and the model mix are carried as observed: a request charged the minimum or covered by the trial is in the
-- window's totals exactly as billed.
--   An active user is a user with at least one billed request in the window; a message is a billed request.
--   observed_days is the part of the window the data covers (two days of data are not read as 30 days).
--   Every projected money figure is computed from the window's exact totals with one division on integer
--   pico-dollars, rounded half to even at 12 places (macros/money.sql); profit = revenue - cost, exactly.
--   The per-message and per-user rates are shown rounded the same way, for reading; the projections do not reuse them.
{%- set days_per_month = projection_count('projection_days_per_month') %}

with observed as (
    -- the trailing window's observed totals and model mix: one row, none without usage (observed_usage_window)
    select * from {{ ref('observed_usage_window') }}
),

scenarios as (
    select * from {{ ref('projection_scenarios') }}
),

projected as (
    select
        scenarios.scenario,
        scenarios.active_users,
        scenarios.messages_per_day as assumed_messages_per_day,
        cast(scenarios.avg_charge_per_message_usd as decimal(38, 12)) as assumed_avg_charge_per_message_usd,
        observed.*,
        {{ units_to_usd(divide_half_even(
            'scenarios.active_users * observed.revenue_units', 'observed.active_user_days')) }} as daily_revenue_usd,
        {{ units_to_usd(divide_half_even(
            'scenarios.active_users * ' ~ days_per_month ~ ' * observed.revenue_units', 'observed.active_user_days')) }}
            as monthly_revenue_usd,
        {{ units_to_usd(divide_half_even(
            'scenarios.active_users * ' ~ days_per_month ~ ' * observed.cost_units', 'observed.active_user_days')) }}
            as monthly_provider_cost_usd,
        {{ units_to_usd(divide_half_even(
            'scenarios.active_users * ' ~ days_per_month ~ ' * observed.trial_credit_units',
            'observed.active_user_days')) }} as monthly_trial_credit_usd
    from scenarios
    cross join observed
),

final as (
    select
        scenario,
        active_users,
        window_start_date,
        window_end_date,
        observed_days,
        observed_active_users,
        observed_messages,
        cast(round(observed_messages / active_user_days, 4) as decimal(18, 4)) as messages_per_active_user_per_day,
        cast(round(active_users * observed_messages / active_user_days, 2) as decimal(18, 2)) as messages_per_day,
        cast({{ units_to_usd(divide_half_even('revenue_units', 'observed_messages')) }} as decimal(38, 12))
            as charge_per_message_usd,
        cast({{ units_to_usd(divide_half_even('cost_units', 'observed_messages')) }} as decimal(38, 12))
            as cost_per_message_usd,
        cast(round(100.0 * trial_covered_messages / observed_messages, 4) as decimal(9, 4))
            as trial_covered_percent_of_messages,
        cast(round(100.0 * minimum_charge_messages / observed_messages, 4) as decimal(9, 4))
            as minimum_charge_percent_of_messages,
        top_model,
        top_model_percent_of_messages,
        model_mix,
        {{ days_per_month }} as days_per_month,
        cast(daily_revenue_usd as decimal(38, 12)) as daily_revenue_usd,
        cast(monthly_revenue_usd as decimal(38, 12)) as monthly_revenue_usd,
        cast(monthly_provider_cost_usd as decimal(38, 12)) as monthly_provider_cost_usd,
        cast(monthly_revenue_usd - monthly_provider_cost_usd as decimal(38, 12)) as monthly_profit_usd,
        cast(monthly_trial_credit_usd as decimal(38, 12)) as monthly_trial_credit_usd,
        assumed_messages_per_day,
        assumed_avg_charge_per_message_usd
    from projected
    order by active_users, scenario
)

select * from final
