-- Every aggregate in the marts is the exact sum of the per-request values (pricing-rules.md): here per day, for the
-- days the last run wrote (macros/test_scope.sql: every day on a full build).
{{ config(meta={'dagster': {'ref': {'name': 'ai_revenue_analytics'}}}) }}
with {{ latest_written_groups('ai_revenue_analytics', {'date': reporting_date('created_at')}) }}

per_request as (
    select
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as revenue_usd,
        sum(markup_usd) as profit_usd,
        sum(trial_credit_usd) as trial_credit_usd
    from {{ ref('ai_usage_analytics') }}
    where created_at >= (select min_created_at from bounds)
    group by all
),

daily as (
    select * from {{ ref('ai_revenue_analytics') }}
    semi join touched using (date)
)

select *
from (select * from per_request semi join touched using (date)) as per_request
full outer join daily using (date)
where per_request.requests is distinct from daily.requests
    or per_request.provider_cost_usd is distinct from daily.provider_cost_usd
    or per_request.revenue_usd is distinct from daily.revenue_usd
    or per_request.profit_usd is distinct from daily.profit_usd
    or per_request.trial_credit_usd is distinct from daily.trial_credit_usd
