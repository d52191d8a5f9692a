-- One row per day (reporting_timezone, default UTC): revenue (what users were charged), cost (what providers
-- charge us) and profit. Incremental: the days with a request re-priced since the last run are summed again, whole;
-- a day left with no request (all held back after a catalog change) is deleted.
{%- set group_keys = {'date': reporting_date('created_at')} %}
{{
    config(
        materialized=incremental_materialization(),
        unique_key='date',
        incremental_strategy='delete+insert',
        delete_bound='date',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook=[
            "{{ drop_rows_of_other_knobs(knobs_fingerprint({'reporting_timezone': reporting_timezone()})) }}",
            "{{ delete_emptied_groups('ai_usage_analytics', " ~ group_keys ~ ", fingerprint=knobs_fingerprint({'reporting_timezone': reporting_timezone()}), date_key='date') }}",
        ],
    )
}}

-- depends_on: {{ ref('int_requests_trial_applied') }} (the requests re-priced since the last run: macros/incremental.sql)
with requests {{ cte_inlined() }} (
    select * from {{ ref('ai_usage_analytics') }}
),

{{ rows_of_changed_groups('requests', group_keys, knobs_fingerprint({'reporting_timezone': reporting_timezone()}), ref('ai_usage_analytics'), utc_days=(reporting_timezone() == 'UTC')) }}

final as (
    select
        {{ reporting_date('created_at') }} as date,
        {{ request_sums(['requests', 'billed_requests', 'failed_requests', 'total_tokens', 'provider_cost_usd',
                         ('revenue_usd', 'user_charge_usd'), ('profit_usd', 'markup_usd'), 'trial_credit_usd',
                         ('active_users', 'users')]) }},
        cast(current_timestamp as timestamp) as updated_at,
        {{ knobs_fingerprint({'reporting_timezone': reporting_timezone()}) }} as knobs_fingerprint
    from to_sum
    group by date
    order by date
)

select * from final
