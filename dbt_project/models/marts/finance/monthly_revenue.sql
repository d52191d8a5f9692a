-- One row per month (UTC calendar month): the month's revenue, cost and profit, rolled up from
-- monthly_revenue_by_model (monthly revenue is computed there, once).
with by_model as (
    select * from {{ ref('monthly_revenue_by_model') }}
),

final as (
    select
        {{ statement_period_columns() }},
        cast(sum(requests) as bigint) as requests,
        cast(sum(billed_requests) as bigint) as billed_requests,
        cast(sum(total_tokens) as bigint) as total_tokens,
        cast(sum(provider_cost_usd) as decimal(38, 12)) as provider_cost_usd,
        cast(sum(revenue_usd) as decimal(38, 12)) as revenue_usd,
        cast(sum(profit_usd) as decimal(38, 12)) as profit_usd,
        cast(sum(markup_before_trial_usd) as decimal(38, 12)) as markup_before_trial_usd,
        cast(sum(trial_credit_usd) as decimal(38, 12)) as trial_credit_usd
    from by_model
    group by {{ statement_period_columns() }}
)

select * from final
