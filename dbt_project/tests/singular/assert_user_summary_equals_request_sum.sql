{{ config(meta={'dagster': {'ref': {'name': 'user_ai_usage_summary'}}}) }}
with per_request as (
    select
        user_id,
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        sum(total_tokens) as total_tokens,
        sum(trial_tokens) as trial_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd,
        sum(markup_usd) as markup_usd,
        sum(trial_credit_usd) as trial_credit_usd
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
    or per_request.total_tokens is distinct from summary.total_tokens
    or per_request.trial_tokens is distinct from summary.trial_tokens
    or per_request.provider_cost_usd is distinct from summary.provider_cost_usd
    or per_request.markup_usd is distinct from summary.markup_usd
    or per_request.trial_credit_usd is distinct from summary.trial_credit_usd
