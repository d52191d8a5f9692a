-- One row per day (in reporting_timezone, default UTC): revenue (what users were charged), cost (what providers charge us) and profit.
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

final as (
    select
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        count(*) filter (where not is_billed) as failed_requests,
        cast(sum(total_tokens) as bigint) as total_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as revenue_usd,
        sum(markup_usd) as profit_usd,
        sum(trial_credit_usd) as trial_credit_usd,
        count(distinct user_id) as active_users
    from requests
    group by all
    order by date
)

select * from final
