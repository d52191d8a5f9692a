{{ config(meta={'dagster': {'ref': {'name': 'user_ai_usage_summary'}}}) }}
with per_request as (
    select
        user_id,
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        sum(user_charge_usd) as user_charge_usd,
        sum(markup_usd) as markup_usd
    from {{ ref('ai_usage_analytics') }}
    group by all
),

summary as (
    select * from {{ ref('user_ai_usage_summary') }}
)

select *
from per_request
full outer join summary using (user_id, date)
where per_request.requests is distinct from summary.requests
    or per_request.user_charge_usd is distinct from summary.user_charge_usd
    or per_request.markup_usd is distinct from summary.markup_usd
