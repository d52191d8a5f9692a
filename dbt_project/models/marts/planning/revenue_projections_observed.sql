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
{%- set window_days = var('projection_window_days') | string | trim -%}
{%- set days_per_month = var('projection_days_per_month') | string | trim -%}
{%- set top_models = var('projection_top_models') | string | trim -%}
{%- for name, value in [('projection_window_days', window_days), ('projection_days_per_month', days_per_month),
                         ('projection_top_models', top_models)] -%}
    {%- if not modules.re.match('^[1-9][0-9]{0,3}$', value) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var '" ~ name ~ "' = " ~ value[:40] ~ " must be a whole number, 1..9999; "
            ~ "set it like --vars '{" ~ name ~ ": 30}'.") }}
    {%- endif -%}
{%- endfor %}

with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

scenarios as (
    select * from {{ ref('projection_scenarios') }}
),

data_bounds as (
    select
        min(cast(created_at as date)) as first_date,
        max(cast(created_at as date)) as window_end_date
    from requests
),

window_bounds as (
    select
        cast(window_end_date - {{ window_days }} + 1 as date) as window_start_date,
        window_end_date,
        cast(window_end_date - greatest(cast(window_end_date - {{ window_days }} + 1 as date), first_date) + 1
            as bigint) as observed_days
    from data_bounds
),

windowed as (
    select requests.*
    from requests
    cross join window_bounds
    where requests.is_billed
        and cast(requests.created_at as date) between window_bounds.window_start_date and window_bounds.window_end_date
),

totals as (
    select
        count(distinct user_id) as observed_active_users,
        count(*) as observed_messages,
        count(*) filter (where is_trial_covered) as trial_covered_messages,
        count(*) filter (where not is_trial_covered and user_charge_usd = {{ minimum_charge_usd() }})
            as minimum_charge_messages,
        -- exact sums at 12 places, turned into pico-dollars once (not once per request)
        {{ usd_to_units('sum(user_charge_usd)') }} as revenue_units,
        {{ usd_to_units('sum(provider_cost_usd)') }} as cost_units,
        {{ usd_to_units('sum(trial_credit_usd)') }} as trial_credit_units
    from windowed
),

per_model as (
    select
        model,
        count(*) as messages,
        sum(user_charge_usd) as revenue_usd,
        row_number() over (order by count(*) desc, model) as model_rank
    from windowed
    group by model
),

model_mix as (
    select
        string_agg(
            per_model.model || ' ' || printf('%.1f', 100.0 * per_model.messages / totals.observed_messages)
            || '% of messages',
            '; ' order by per_model.model_rank
        ) as model_mix,
        max(case when per_model.model_rank = 1 then per_model.model end) as top_model,
        cast(round(100.0 * max(case when per_model.model_rank = 1 then per_model.messages end)
            / totals.observed_messages, 4) as decimal(9, 4)) as top_model_percent_of_messages
    from per_model
    cross join totals
    where per_model.model_rank <= {{ top_models }}
    group by totals.observed_messages
),

observed as (
    select
        window_bounds.*,
        totals.*,
        model_mix.*,
        totals.observed_active_users * window_bounds.observed_days as active_user_days
    from totals
    cross join window_bounds
    cross join model_mix
    where totals.observed_messages > 0
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
