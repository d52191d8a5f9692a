-- One row per user and day (reporting_timezone, default UTC). Incremental: the (user, day) pairs with a request
-- re-priced since the last run are summed again from ai_usage_analytics, whole.
{{
    config(
        materialized='incremental',
        unique_key=['user_id', 'date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        tags=['daily'],
        pre_hook="{{ drop_rows_of_other_knobs(knobs_fingerprint({'reporting_timezone': reporting_timezone()})) }}",
    )
}}

with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

{% if is_incremental() %}
touched as (
    select distinct user_id, {{ reporting_date('created_at') }} as date
    from requests
    where updated_at > {{ watermark('updated_at') }}
),

to_sum as (
    select requests.*
    from requests
    inner join touched
        on requests.user_id = touched.user_id
        and {{ reporting_date('requests.created_at') }} = touched.date
    -- a day in any time zone lies within a day either side of the same UTC day: lets DuckDB skip old row groups
    where requests.created_at >= (select min(date) - interval 1 day from touched)
        and requests.created_at < (select max(date) + interval 2 day from touched)
),
{% else %}
to_sum as (
    select * from requests
),
{% endif %}

final as (
    select
        user_id,
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(total_tokens) as bigint) as total_tokens,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd,
        sum(markup_usd) as markup_usd,
        sum(trial_credit_usd) as trial_credit_usd,
        cast(current_timestamp as timestamp) as updated_at,
        {{ knobs_fingerprint({'reporting_timezone': reporting_timezone()}) }} as knobs_fingerprint
    from to_sum
    group by user_id, date
    order by date, user_id
)

select * from final
