-- One row per day (reporting_timezone): tokens the free trial paid for against tokens users paid for.
with user_days as (
    select * from {{ ref('user_ai_usage_summary') }}
),

final as (
    select
        date,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        cast(sum(total_tokens) - sum(trial_tokens) as bigint) as paid_tokens,
        cast(sum(trial_credit_usd) as decimal(38, 12)) as trial_credit_usd,
        count(distinct user_id) filter (where trial_tokens > 0) as users_in_trial
    from user_days
    group by date
)

select * from final
