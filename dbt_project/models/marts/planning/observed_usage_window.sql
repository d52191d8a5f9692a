-- The observed usage the observed projections scale (revenue_projections_observed): one row for the trailing window
-- (var projection_window_days, ending at the latest day in the data) with its exact totals and model mix; no row
-- when the window has no billed request. An active user has a billed request in the window; a message is a billed
-- request; observed_days is the part of the window the data covers. Ephemeral: inlined into its one reader.
{{ config(materialized='ephemeral', contract={'enforced': false}) }}
{%- set window_days = projection_count('projection_window_days') %}
{%- set top_models = projection_count('projection_top_models') %}

{#- The first and last day in the data, read when the model is compiled and written in as literals: the scan of the
    window's requests then compares created_at with a constant, which DuckDB pushes into it (it skips the row groups
    before the window; a subquery would be a join above a scan of every row, and the table read twice). A unit test
    (or a compile without a warehouse) keeps the subqueries. -#}
{%- set bounds = none %}
{%- if execute and model.resource_type != 'unit_test' %}
    {%- set bounds = run_query("select cast(min(cast(created_at as date)) as string), cast(max(cast(created_at as date)) as string) from "
                               ~ ref('ai_usage_analytics')).rows[0] %}
{%- endif %}

with requests as (
    select * from {{ ref('ai_usage_analytics') }}
    {%- if bounds is not none and bounds[1] is not none %}
    -- the window's days alone (the same condition as `windowed`, on created_at)
    where created_at >= cast(cast('{{ bounds[1] }}' as date) - {{ window_days }} + 1 as timestamp)
    {%- endif %}
),

data_bounds as (
    {%- if bounds is not none %}
    select
        cast({{ "'" ~ bounds[0] ~ "'" if bounds[0] is not none else 'null' }} as date) as first_date,
        cast({{ "'" ~ bounds[1] ~ "'" if bounds[1] is not none else 'null' }} as date) as window_end_date
    {%- else %}
    select
        min(cast(created_at as date)) as first_date,
        max(cast(created_at as date)) as window_end_date
    from requests
    {%- endif %}
),

window_bounds as (
    select
        cast(window_end_date - {{ window_days }} + 1 as date) as window_start_date,
        window_end_date,
        cast({{ days_between('greatest(cast(window_end_date - ' ~ window_days ~ ' + 1 as date), first_date)', 'window_end_date') }} + 1
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
    -- each percent to one decimal, rounded half up, in integers (the same text on every engine)
    select
        {{ ordered_string_agg(
            "per_model.model || ' ' || cast(cast("
            ~ floor_div('2000 * per_model.messages + totals.observed_messages', '2 * totals.observed_messages')
            ~ " as decimal(38, 0)) * cast(0.1 as decimal(2, 1)) as string) || '% of messages'",
            "'; '", 'per_model.model_rank') }} as model_mix,
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
)

select * from observed
