-- One row per day of ai_revenue_analytics (reporting_timezone), with the month its export file is in.
with days as (
    select * from {{ ref('ai_revenue_analytics') }}
),

final as (
    select
        {{ year_month('date') }} as month,
        date,
        requests,
        billed_requests,
        failed_requests,
        total_tokens,
        provider_cost_usd,
        revenue_usd,
        profit_usd,
        trial_credit_usd,
        active_users
    from days
)

select * from final
