-- Usage per model, user and UTC day: the small rollup that model_popularity sums, so that adding a day does not
-- re-read every request. Incremental like the daily marts.
{{
    config(
        materialized='incremental',
        unique_key=['model', 'user_id', 'created_date'],
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        tags=['daily'],
    )
}}

with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

{% if is_incremental() %}
touched as (
    select distinct model, user_id, cast(created_at as date) as created_date
    from requests
    where updated_at > {{ watermark('updated_at') }}
),

to_sum as (
    select requests.*
    from requests
    inner join touched
        on requests.model = touched.model
        and requests.user_id = touched.user_id
        and cast(requests.created_at as date) = touched.created_date
    where requests.created_at >= (select min(created_date) from touched)
),
{% else %}
to_sum as (
    select * from requests
),
{% endif %}

final as (
    select
        model,
        provider,
        user_id,
        cast(created_at as date) as created_date,
        count(*) as requests,
        cast(sum(total_tokens) as bigint) as total_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd,
        sum(markup_usd) as markup_usd,
        cast(current_timestamp as timestamp) as updated_at
    from to_sum
    group by all
)

select * from final
