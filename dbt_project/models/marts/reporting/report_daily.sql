-- One row per day (reporting_timezone) from the first to the last day with requests, days without requests
-- included as zeros, so that the spending report's x-axis has every day. is_partial_day marks today (finance_as_of):
-- its figures are only the hours so far.
with days as (
    select * from {{ ref('ai_revenue_analytics') }}
),

trial as (
    select * from {{ ref('trial_usage_daily') }}
),

as_of as (
    select * from {{ ref('finance_as_of') }}
),

spine as (
    select {{ day_series('min(date)', 'max(date)') }} as date
    from days
),

final as (
    select
        spine.date,
        spine.date = as_of.reporting_date as is_partial_day,
        coalesce(days.requests, 0) as requests,
        coalesce(days.active_users, 0) as active_users,
        cast(coalesce(days.provider_cost_usd, 0) as decimal(38, 12)) as provider_cost_usd,
        cast(coalesce(days.revenue_usd, 0) as decimal(38, 12)) as revenue_usd,
        cast(coalesce(days.profit_usd, 0) as decimal(38, 12)) as profit_usd,
        cast(coalesce(days.trial_credit_usd, 0) as decimal(38, 12)) as trial_credit_usd,
        cast(coalesce(trial.trial_tokens, 0) as bigint) as trial_tokens,
        cast(coalesce(trial.paid_tokens, 0) as bigint) as paid_tokens,
        cast(coalesce(trial.users_in_trial, 0) as bigint) as users_in_trial
    from spine
    cross join as_of
    left join days on spine.date = days.date
    left join trial on spine.date = trial.date
)

select * from final
