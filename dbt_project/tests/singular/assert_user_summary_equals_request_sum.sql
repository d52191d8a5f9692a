-- user_ai_usage_summary is the exact sum of ai_usage_analytics per user and day, for the groups the last run wrote
-- (macros/test_scope.sql: every group on a full build, the day's groups on a daily run).
{{ config(meta={'dagster': {'ref': {'name': 'user_ai_usage_summary'}}}) }}
with {{ latest_written_groups('user_ai_usage_summary', {'user_id': 'user_id', 'date': reporting_date('created_at')}) }}

per_request as (
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
    where created_at >= (select min_created_at from bounds)
    group by all
),

summary as (
    select * from {{ ref('user_ai_usage_summary') }}
    semi join touched using (user_id, date)
)

select *
from (select * from per_request semi join touched using (user_id, date)) as per_request
full outer join summary using (user_id, date)
where per_request.requests is distinct from summary.requests
    or per_request.user_charge_usd is distinct from summary.user_charge_usd
    or per_request.total_tokens is distinct from summary.total_tokens
    or per_request.trial_tokens is distinct from summary.trial_tokens
    or per_request.provider_cost_usd is distinct from summary.provider_cost_usd
    or per_request.markup_usd is distinct from summary.markup_usd
    or per_request.trial_credit_usd is distinct from summary.trial_credit_usd
