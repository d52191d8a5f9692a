-- Billing alerts: per user and UTC calendar month, the request that took the month's usage across 80% and 100%
-- (var alert_thresholds_percent) of the plan's quota in seeds/plan_quotas.csv, for tokens and for spend; and, once per
-- user, the end of the free trial: the first billed request the trial no longer fully pays after the user had trial
-- tokens (the first with chargeable tokens, or a 0-token request charged the minimum after the trial).
-- Usage counts billed requests only (a failed request costs nothing); a plan with an empty quota, and a user missing
-- from the users export, get no quota alerts. crossed_at is the created_at of the request that crossed.
-- alert_key is stable across rebuilds: the Dagster asset billing_alert_notifications delivers each key once.
{%- set thresholds = var('alert_thresholds_percent') -%}
{%- if thresholds is string or thresholds is number or thresholds | length == 0 -%}
    {{ exceptions.raise_compiler_error(
        "dbt var 'alert_thresholds_percent' = " ~ (thresholds | string)[:60] ~ " must be a list of whole percents, "
        ~ "e.g. --vars '{alert_thresholds_percent: [80, 100]}'.") }}
{%- endif -%}
{%- for threshold in thresholds -%}
    {%- if not modules.re.match('^[1-9][0-9]{0,3}$', threshold | string) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var 'alert_thresholds_percent' has " ~ (threshold | string)[:20]
            ~ ": each threshold must be a whole percent, 1..9999.") }}
    {%- endif -%}
{%- endfor %}

with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

users as (
    select * from {{ ref('users') }}
),

quotas as (
    select * from {{ ref('plan_quotas') }}
),

billed as (
    select
        request_id,
        user_id,
        created_at,
        cast(date_trunc('month', created_at) as date) as month_start_date,
        total_tokens,
        trial_tokens,
        is_trial_covered,
        user_charge_usd
    from requests
    where is_billed
),

running as (
    select
        *,
        sum(total_tokens) over month_so_far as month_tokens,
        coalesce(sum(total_tokens) over month_before, 0) as month_tokens_before,
        sum(user_charge_usd) over month_so_far as month_spend_usd,
        coalesce(sum(user_charge_usd) over month_before, 0) as month_spend_before_usd,
        sum(trial_tokens) over lifetime_so_far as lifetime_trial_tokens
    from billed
    window
        month_so_far as (
            partition by user_id, month_start_date order by created_at, request_id
            rows between unbounded preceding and current row
        ),
        month_before as (
            partition by user_id, month_start_date order by created_at, request_id
            rows between unbounded preceding and 1 preceding
        ),
        lifetime_so_far as (
            partition by user_id order by created_at, request_id
            rows between unbounded preceding and current row
        )
),

with_quota as (
    select
        running.*,
        users.email,
        users.plan,
        quotas.monthly_token_quota,
        quotas.monthly_spend_quota_usd
    from running
    left join users on running.user_id = users.id
    left join quotas on users.plan = quotas.plan
),

quota_crossings as (
    {%- for threshold in thresholds %}
    select
        *,
        'tokens_{{ threshold }}pct' as alert_type,
        'tokens' as metric,
        {{ threshold }} as threshold_percent
    from with_quota
    where monthly_token_quota > 0
        and month_tokens * 100 >= {{ threshold }} * monthly_token_quota
        and month_tokens_before * 100 < {{ threshold }} * monthly_token_quota

    union all

    select
        *,
        'spend_{{ threshold }}pct' as alert_type,
        'spend' as metric,
        {{ threshold }} as threshold_percent
    from with_quota
    where monthly_spend_quota_usd > 0
        and month_spend_usd * 100 >= {{ threshold }} * monthly_spend_quota_usd
        and month_spend_before_usd * 100 < {{ threshold }} * monthly_spend_quota_usd
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

trial_ends as (
    select
        *,
        'trial_ended' as alert_type,
        'trial' as metric,
        cast(null as integer) as threshold_percent
    from with_quota
    where lifetime_trial_tokens > 0 and not is_trial_covered
    qualify row_number() over (partition by user_id order by created_at, request_id) = 1
),

crossings as (
    select
        user_id || '/' || strftime(month_start_date, '%Y-%m') || '/' || alert_type as alert_key,
        *,
        monthly_token_quota as quota_tokens,
        monthly_spend_quota_usd as quota_spend_usd,
        month_tokens as used_tokens,
        month_spend_usd as used_spend_usd
    from quota_crossings

    union all

    select
        user_id || '/' || alert_type as alert_key,
        *,
        cast(null as bigint) as quota_tokens,
        cast(null as decimal(38, 12)) as quota_spend_usd,
        lifetime_trial_tokens as used_tokens,
        month_spend_usd as used_spend_usd
    from trial_ends
),

final as (
    select
        alert_key,
        user_id,
        email,
        plan,
        month_start_date,
        alert_type,
        metric,
        cast(threshold_percent as integer) as threshold_percent,
        cast(quota_tokens as bigint) as quota_tokens,
        cast(quota_spend_usd as decimal(38, 12)) as quota_spend_usd,
        cast(used_tokens as bigint) as used_tokens,
        cast(used_spend_usd as decimal(38, 12)) as used_spend_usd,
        request_id,
        created_at as crossed_at
    from crossings
    order by crossed_at, user_id, alert_type
)

select * from final
