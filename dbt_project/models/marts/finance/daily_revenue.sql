-- One row per day of ai_revenue_analytics (reporting_timezone), with the month its export file is in. Days of the
-- running month (finance_as_of, UTC) are provisional.
with days as (
    select * from {{ ref('ai_revenue_analytics') }}
),

as_of as (
    select * from {{ ref('finance_as_of') }}
),

final as (
    select
        {{ statement_period('days.date') }},
        days.date,
        days.requests,
        days.billed_requests,
        days.failed_requests,
        days.total_tokens,
        days.provider_cost_usd,
        days.revenue_usd,
        days.profit_usd,
        days.trial_credit_usd,
        days.active_users
    from days
    cross join as_of
)

select * from final
