-- One row per user and day (reporting_timezone, default UTC). Incremental: the (user, day) pairs with a request
-- re-priced since the last run are summed again from ai_usage_analytics, whole; a pair left with no request (all
-- held back after a catalog change) is deleted.
{%- set group_keys = {'user_id': 'user_id', 'date': reporting_date('created_at')} %}
{{
    config(
        materialized=incremental_materialization(),
        unique_key=['user_id', 'date'],
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
        user_id,
        {{ reporting_date('created_at') }} as date,
        {{ request_sums(['requests', 'billed_requests', 'input_tokens', 'output_tokens', 'total_tokens', 'trial_tokens',
                         'provider_cost_usd', 'user_charge_usd', 'markup_usd', 'trial_credit_usd']) }},
        cast(current_timestamp as timestamp) as updated_at,
        {{ knobs_fingerprint({'reporting_timezone': reporting_timezone()}) }} as knobs_fingerprint
    from to_sum
    group by user_id, date
    order by date, user_id
)

select * from final
