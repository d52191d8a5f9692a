-- Billing alerts: per user and UTC calendar month, the request that took the month's usage across 80% and 100%
-- (var alert_thresholds_percent) of the plan's quota in seeds/plan_quotas.csv, for tokens and for spend; and, once per
-- user, the end of the free trial: the first billed request the trial no longer fully pays after the user had trial
-- tokens (the first with chargeable tokens, or a 0-token request charged the minimum after the trial).
-- Usage counts billed requests only (a failed request costs nothing); a plan with an empty quota, and a user missing
-- from the users export, get no quota alerts. crossed_at is the created_at of the request that crossed.
-- alert_key is stable across rebuilds: the Dagster asset billing_alert_notifications delivers each key once.
{%- set thresholds = alert_thresholds() %}

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

quota_users as (
    -- only users whose plan has a quota can cross one: the running sums are taken over their requests alone
    select users.id as user_id, quotas.monthly_token_quota, quotas.monthly_spend_quota_usd
    from users
    inner join quotas on users.plan = quotas.plan
    where quotas.monthly_token_quota > 0 or quotas.monthly_spend_quota_usd > 0
),

running as (
    -- one window: the usage of the month up to each request; "before" it is that minus the request (exact sums)
    select
        *,
        month_tokens - total_tokens as month_tokens_before,
        month_spend_usd - user_charge_usd as month_spend_before_usd
    from (
        select
            billed.*,
            quota_users.monthly_token_quota,
            quota_users.monthly_spend_quota_usd,
            sum(billed.total_tokens) over month_so_far as month_tokens,
            sum(billed.user_charge_usd) over month_so_far as month_spend_usd
        from billed
        inner join quota_users using (user_id)
        window month_so_far as (
            partition by billed.user_id, billed.month_start_date order by billed.created_at, billed.request_id
            rows between unbounded preceding and current row
        )
    )
),

quota_crossings as (
    -- per threshold and metric (tokens, spend): the request whose month-to-date usage first reaches the threshold
    {%- set metrics = [('tokens', 'month_tokens', 'month_tokens_before', 'monthly_token_quota'),
                       ('spend', 'month_spend_usd', 'month_spend_before_usd', 'monthly_spend_quota_usd')] %}
    {%- for threshold in thresholds %}
    {%- set outer = loop %}
    {%- for metric, used, before, quota in metrics %}
    select
        user_id || '/' || {{ year_month('month_start_date') }} || '/{{ metric }}_{{ threshold }}pct' as alert_key,
        user_id,
        month_start_date,
        '{{ metric }}_{{ threshold }}pct' as alert_type,
        '{{ metric }}' as metric,
        {{ threshold }} as threshold_percent,
        monthly_token_quota as quota_tokens,
        monthly_spend_quota_usd as quota_spend_usd,
        month_tokens as used_tokens,
        month_spend_usd as used_spend_usd,
        request_id,
        created_at
    from running
    where {{ quota }} > 0
        and {{ used }} * 100 >= {{ threshold }} * {{ quota }}
        and {{ before }} * 100 < {{ threshold }} * {{ quota }}
    {% if not (outer.last and loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}
),

first_trial as (
    -- each user's first billed request with trial tokens (in the user's order: created_at, request_id)
    select user_id, min_by(request_id, {{ sort_key(['created_at', 'request_id']) }}) as request_id, min(created_at) as created_at
    from billed
    where trial_tokens > 0
    group by user_id
),

trial_end_requests as (
    -- the trial ends with the first billed request, from the first with trial tokens on, that it does not cover
    select billed.user_id, min_by(billed.request_id, {{ sort_key(['billed.created_at', 'billed.request_id']) }}) as request_id
    from billed
    inner join first_trial
        on billed.user_id = first_trial.user_id
        and (billed.created_at > first_trial.created_at
             or (billed.created_at = first_trial.created_at and billed.request_id >= first_trial.request_id))
    where not billed.is_trial_covered
    group by billed.user_id
),

trial_end_usage as (
    -- the trial tokens the user used up to and including that request, and the month's spend up to it
    select
        ended.request_id,
        cast(sum(billed.trial_tokens) as bigint) as lifetime_trial_tokens,
        sum(billed.user_charge_usd) filter (where billed.month_start_date = ended.month_start_date) as month_spend_usd
    from (
        select billed.*
        from billed
        semi join trial_end_requests using (user_id, request_id)
    ) as ended
    inner join billed
        on billed.user_id = ended.user_id
        and (billed.created_at < ended.created_at
             or (billed.created_at = ended.created_at and billed.request_id <= ended.request_id))
    group by ended.request_id
),

trial_ends as (
    select
        billed.user_id || '/trial_ended' as alert_key,
        billed.user_id,
        billed.month_start_date,
        'trial_ended' as alert_type,
        'trial' as metric,
        cast(null as integer) as threshold_percent,
        cast(null as bigint) as quota_tokens,
        cast(null as decimal(38, 12)) as quota_spend_usd,
        trial_end_usage.lifetime_trial_tokens as used_tokens,
        trial_end_usage.month_spend_usd as used_spend_usd,
        billed.request_id,
        billed.created_at
    from billed
    inner join trial_end_usage using (request_id)
),

crossings as (
    select * from quota_crossings
    union all
    select * from trial_ends
),

final as (
    select
        crossings.alert_key,
        crossings.user_id,
        users.email,
        users.plan,
        month_start_date,
        alert_type,
        metric,
        cast(threshold_percent as integer) as threshold_percent,
        cast(quota_tokens as bigint) as quota_tokens,
        cast(quota_spend_usd as decimal(38, 12)) as quota_spend_usd,
        cast(used_tokens as bigint) as used_tokens,
        cast(used_spend_usd as decimal(38, 12)) as used_spend_usd,
        request_id,
        crossings.created_at as crossed_at
    from crossings
    left join users on crossings.user_id = users.id
    order by crossed_at, user_id, alert_type
)

select * from final
