-- Billing alerts: per user and UTC calendar month, the request that took the month's usage across 80% and 100%
-- (var alert_thresholds_percent) of the plan's quota in seeds/plan_quotas.csv, for tokens and for spend
-- (int_billing_quota_crossings); and, once per user, the end of the free trial (int_billing_trial_ends).
-- Usage counts billed requests only (a failed request costs nothing); a plan with an empty quota, and a user missing
-- from the users export, get no quota alerts. crossed_at is the created_at of the request that crossed.
-- alert_key is stable across rebuilds: the Dagster asset billing_alert_notifications delivers each key once.
-- A table rebuilt on every run from the two incremental tables (a few rows per user).
with quota_crossings as (
    select * from {{ ref('int_billing_quota_crossings') }}
    where request_id is not null
),

trial_ends as (
    select
        user_id || '/trial_ended' as alert_key,
        user_id,
        month_start_date,
        'trial_ended' as alert_type,
        'trial' as metric,
        cast(null as integer) as threshold_percent,
        cast(null as bigint) as quota_tokens,
        cast(null as decimal(38, 12)) as quota_spend_usd,
        used_tokens,
        used_spend_usd,
        request_id,
        created_at
    from {{ ref('int_billing_trial_ends') }}
    where request_id is not null
),

users as (
    select * from {{ ref('users') }}
),

crossings as (
    select
        alert_key, user_id, month_start_date, alert_type, metric, threshold_percent, quota_tokens, quota_spend_usd,
        used_tokens, used_spend_usd, request_id, created_at
    from quota_crossings
    union all
    select * from trial_ends
),

final as (
    select
        crossings.alert_key,
        crossings.user_id,
        users.email,
        users.plan,
        crossings.month_start_date,
        crossings.alert_type,
        crossings.metric,
        cast(crossings.threshold_percent as integer) as threshold_percent,
        cast(crossings.quota_tokens as bigint) as quota_tokens,
        cast(crossings.quota_spend_usd as decimal(38, 12)) as quota_spend_usd,
        cast(crossings.used_tokens as bigint) as used_tokens,
        cast(crossings.used_spend_usd as decimal(38, 12)) as used_spend_usd,
        crossings.request_id,
        crossings.created_at as crossed_at
    from crossings
    left join users on crossings.user_id = users.id
    order by crossed_at, user_id, alert_type
)

select * from final
