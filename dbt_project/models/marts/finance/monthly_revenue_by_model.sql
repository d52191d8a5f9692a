-- One row per month (UTC calendar month of created_at), provider and model: revenue, provider cost and profit.
-- The one place monthly revenue is computed: monthly_revenue rolls it up, the finance export copies it.
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

final as (
    select
        {{ year_month('created_at') }} as month,
        provider,
        model,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        cast(sum(total_tokens) as bigint) as total_tokens,
        cast(sum(provider_cost_usd) as decimal(38, 12)) as provider_cost_usd,
        cast(sum(user_charge_usd) as decimal(38, 12)) as revenue_usd,
        cast(sum(markup_usd) as decimal(38, 12)) as profit_usd,
        cast(sum(trial_credit_usd) as decimal(38, 12)) as trial_credit_usd
    from requests
    group by month, provider, model
)

select * from final
