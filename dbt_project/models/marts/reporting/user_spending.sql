-- One row per user with requests: what they spent in all, and where their free trial stands. The spending report's
-- users (top spenders, the per-user picker) and its trial counts (trial_status) read it.
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

users as (
    select * from {{ ref('users') }}
),

per_user as (
    select
        user_id,
        count(*) as requests,
        cast(sum(total_tokens) as bigint) as total_tokens,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        cast(sum(user_charge_usd) as decimal(38, 12)) as spent_usd,
        cast(sum(trial_credit_usd) as decimal(38, 12)) as trial_credit_usd,
        bool_or(is_billed and not is_trial_covered) as has_paid
    from requests
    group by user_id
),

final as (
    select
        per_user.user_id,
        users.email,
        users.plan,
        per_user.requests,
        per_user.total_tokens,
        per_user.trial_tokens,
        per_user.spent_usd,
        per_user.trial_credit_usd,
        per_user.has_paid
    from per_user
    left join users on per_user.user_id = users.id
)

select * from final
