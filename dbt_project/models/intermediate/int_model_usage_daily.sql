-- Usage per model, user and UTC day: the small rollup that model_popularity sums, so that adding a day does not
-- re-read every request. Incremental like the daily marts (a group left with no request is deleted).
{%- set group_keys = {'model': 'model', 'user_id': 'user_id', 'created_date': 'cast(created_at as date)'} %}
{{
    config(
        materialized='incremental',
        unique_key=['model', 'user_id', 'created_date'],
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        tags=['daily'],
        pre_hook="{{ delete_emptied_groups('ai_usage_analytics', " ~ group_keys ~ ") }}",
    )
}}

-- depends_on: {{ ref('int_requests_trial_applied') }} (the requests re-priced since the last run: macros/incremental.sql)
with requests as not materialized (
    select * from {{ ref('ai_usage_analytics') }}
),

{{ rows_of_changed_groups('requests', group_keys) }}

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
