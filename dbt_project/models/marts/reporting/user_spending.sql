-- One row per user with requests: what they spent in all, where their free trial stands, and their quota use in the
-- running month (finance_as_of). The spending report's users (top spenders, the per-user picker), its trial counts
-- (trial_status) and each user's own spending page read it.
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

users as (
    select * from {{ ref('users') }}
),

quotas as (
    select * from {{ ref('plan_quotas') }}
),

eligibility as (
    -- the trial allowance follows pricing step 4 (its eligibility is decided once, in int_requests_trial_applied)
    select user_id, bool_or(is_trial_eligible) as is_trial_eligible
    from {{ ref('int_requests_trial_applied') }}
    group by user_id
),

as_of as (
    select * from {{ ref('finance_as_of') }}
),

per_user as (
    select
        requests.user_id,
        count(*) as requests,
        cast(sum(requests.total_tokens) as bigint) as total_tokens,
        cast(sum(requests.trial_tokens) as bigint) as trial_tokens,
        cast(sum(requests.user_charge_usd) as decimal(38, 12)) as spent_usd,
        cast(sum(requests.trial_credit_usd) as decimal(38, 12)) as trial_credit_usd,
        bool_or(requests.is_billed and not requests.is_trial_covered) as has_paid,
        -- quota use counts billed requests of the running month, as billing_alerts does
        cast(coalesce(sum(requests.total_tokens) filter (
            where requests.is_billed and {{ year_month('requests.created_at') }} = as_of.running_month), 0) as bigint)
            as month_tokens,
        cast(coalesce(sum(requests.user_charge_usd) filter (
            where requests.is_billed and {{ year_month('requests.created_at') }} = as_of.running_month), 0)
            as decimal(38, 12)) as month_spent_usd
    from requests
    cross join as_of
    group by requests.user_id
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
        per_user.has_paid,
        cast(case when coalesce(eligibility.is_trial_eligible, false) then {{ free_trial_tokens() }} else 0 end
            as bigint) as trial_allowance_tokens,
        cast(greatest(case when coalesce(eligibility.is_trial_eligible, false) then {{ free_trial_tokens() }}
            else 0 end - per_user.trial_tokens, 0) as bigint) as trial_tokens_left,
        as_of.running_month as quota_month,
        per_user.month_tokens,
        per_user.month_spent_usd,
        quotas.monthly_token_quota,
        cast(quotas.monthly_spend_quota_usd as decimal(38, 12)) as monthly_spend_quota_usd
    from per_user
    cross join as_of
    left join users on per_user.user_id = users.id
    left join eligibility on per_user.user_id = eligibility.user_id
    left join quotas on users.plan = quotas.plan
)

select * from final
