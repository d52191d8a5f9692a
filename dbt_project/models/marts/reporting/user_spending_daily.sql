-- One row per user and day (reporting_timezone) from the user's first to last day with requests, days without
-- requests as zeros: the chart of each user's spending page. is_partial_day marks today. (Ending at the user's own
-- last day, not the data's, keeps an inactive user's page unchanged from run to run, so it is not rewritten.)
with user_days as (
    select * from {{ ref('user_ai_usage_summary') }}
),

as_of as (
    select * from {{ ref('finance_as_of') }}
),

spans as (
    select user_id, min(date) as first_date, max(date) as last_date
    from user_days
    group by user_id
),

spine as (
    select user_id, {{ day_series('first_date', 'last_date') }} as date
    from spans
),

final as (
    select
        spine.user_id,
        spine.date,
        spine.date = as_of.reporting_date as is_partial_day,
        coalesce(user_days.requests, 0) as requests,
        cast(coalesce(user_days.total_tokens, 0) as bigint) as total_tokens,
        cast(coalesce(user_days.trial_tokens, 0) as bigint) as trial_tokens,
        cast(coalesce(user_days.user_charge_usd, 0) as decimal(38, 12)) as spent_usd,
        cast(coalesce(user_days.trial_credit_usd, 0) as decimal(38, 12)) as trial_credit_usd
    from spine
    cross join as_of
    left join user_days on spine.user_id = user_days.user_id and spine.date = user_days.date
)

select * from final
