-- Per user, UTC calendar month and quota alert type (tokens_<N>pct, spend_<N>pct: var alert_thresholds_percent of
-- the plan's quota in seeds/plan_quotas.csv), the billed request that took the month's usage across the threshold,
-- or none (request_id empty): a row per type for every month of a user whose plan has a quota, with the month's
-- billed usage so far. Usage counts billed, priced requests only; a user missing from the users export has no plan.
-- Incremental by user and month, for the months with a request priced since the last run (priced_at): when every new
-- request comes after the month's last stored one (a new day), the running sums go on from the stored totals (from 0
-- for a month with none stored) and a threshold already crossed stays crossed, reading the new requests alone (the
-- scan's start is a literal: macros/incremental.sql, quota_sum_from); otherwise (a late request) the month is summed
-- again from its start. A
-- change of the thresholds, the quotas or a user's plan (the fingerprint) recomputes every month.
{%- set alert_types = quota_alert_types() %}
{{
    config(
        materialized=incremental_materialization(),
        unique_key=['user_id', 'month_start_date'],
        incremental_strategy='delete+insert',
        delete_bound='month_start_date',
        on_schema_change='sync_all_columns',
        pre_hook=["{{ drop_rows_of_other_knobs(quota_fingerprint_sql()) }}", "{{ delete_emptied_quota_months() }}"],
    )
}}

with charged {{ cte_inlined() }} (
    select *, cast(date_trunc('month', created_at) as date) as month_start_date
    from {{ ref('int_requests_charged') }}
),

quota_users as (
    select users.user_id, quotas.monthly_token_quota, quotas.monthly_spend_quota_usd
    from {{ ref('stg_raw__users') }} as users
    inner join {{ ref('plan_quotas') }} as quotas on users.plan = quotas.plan
    where quotas.monthly_token_quota > 0 or quotas.monthly_spend_quota_usd > 0
),

{{ quota_restart_ctes('charged') }}

months as (
    -- the month's totals so far (running sums only grow: the total is the last running sum), every month
    select
        billed.user_id,
        billed.month_start_date,
        any_value(quota_users.monthly_token_quota) as quota_tokens,
        any_value(quota_users.monthly_spend_quota_usd) as quota_spend_usd,
        any_value(billed.tokens_before) + sum(billed.total_tokens) as month_tokens,
        any_value(billed.spend_before) + sum(billed.user_charge_usd) as month_spend_usd,
        max(billed.created_at) as last_created_at
    from billed
    inner join quota_users using (user_id)
    group by billed.user_id, billed.month_start_date
),

crossing_months as (
    -- the months whose total reaches a threshold: only their requests can cross one (speed: the window below sorts
    -- these alone, about half of the requests)
    select user_id, month_start_date
    from months
    where
    {%- set quota_of = {'monthly_token_quota': 'quota_tokens', 'monthly_spend_quota_usd': 'quota_spend_usd'} %}
    {%- for alert_type, metric, threshold, used, added, quota in alert_types %}
        {{ "or " if not loop.first }}({{ quota_of[quota] }} > 0 and {{ used }} * 100 >= {{ threshold }} * {{ quota_of[quota] }})
    {%- endfor %}
),

crossing_days as (
    -- per day of those months, the month's usage at the day's end; the days on which it reaches a threshold (speed:
    -- only their requests are walked one by one below, so the window sorts a few days' requests, not every month's)
    select user_id, month_start_date, created_date,
        month_tokens - total_tokens as tokens_before_day,
        month_spend_usd - user_charge_usd as spend_before_day
    from (
        select days.*, quota_users.* except (user_id),
            tokens_before + sum(total_tokens) over month_so_far as month_tokens,
            spend_before + sum(user_charge_usd) over month_so_far as month_spend_usd
        from (
            select
                billed.user_id, billed.month_start_date, cast(billed.created_at as date) as created_date,
                any_value(billed.tokens_before) as tokens_before,
                any_value(billed.spend_before) as spend_before,
                sum(billed.total_tokens) as total_tokens,
                sum(billed.user_charge_usd) as user_charge_usd
            from billed
            semi join crossing_months using (user_id, month_start_date)
            group by billed.user_id, billed.month_start_date, cast(billed.created_at as date)
        ) as days
        inner join quota_users using (user_id)
        window month_so_far as (
            partition by days.user_id, days.month_start_date order by days.created_date
            rows between unbounded preceding and current row
        )
    ) as day_ends
    where
    {%- for alert_type, metric, threshold, used, added, quota in alert_types %}
        {{ "or " if not loop.first }}({{ crosses_quota_threshold(threshold, used, added, quota) }})
    {%- endfor %}
),

running as (
    -- one window over those days: the month's usage up to each request (and before it: that minus the request;
    -- exact sums)
    select billed.*, quota_users.* except (user_id),
        crossing_days.tokens_before_day + sum(billed.total_tokens) over day_so_far as month_tokens,
        crossing_days.spend_before_day + sum(billed.user_charge_usd) over day_so_far as month_spend_usd
    from billed
    inner join quota_users using (user_id)
    inner join crossing_days
        on billed.user_id = crossing_days.user_id and billed.month_start_date = crossing_days.month_start_date
        and cast(billed.created_at as date) = crossing_days.created_date
    window day_so_far as (
        partition by billed.user_id, billed.month_start_date, crossing_days.created_date
        order by billed.created_at, billed.request_id
        rows between unbounded preceding and current row
    )
),

crossings as (
    -- per alert type: the request whose month-to-date usage first reaches the threshold
    {%- for alert_type, metric, threshold, used, added, quota in alert_types %}
    select user_id, month_start_date, '{{ alert_type }}' as alert_type, month_tokens as used_tokens,
           month_spend_usd as used_spend_usd, request_id, created_at
    from running
    where {{ crosses_quota_threshold(threshold, used, added, quota) }}
    {{ "union all" if not loop.last }}
    {%- endfor %}
),

alert_types as (
    select * from (values
        {%- for alert_type, metric, threshold, used, added, quota in alert_types %}
        ('{{ alert_type }}', '{{ metric }}', {{ threshold }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as alert_types (alert_type, metric, threshold_percent)
),

found as (
    select * from crossings
    {%- if is_incremental() %}
    union all
    -- a threshold the stored totals had crossed stays crossed when the month goes on
    select stored.user_id, stored.month_start_date, stored.alert_type, stored.used_tokens, stored.used_spend_usd,
           stored.request_id, stored.created_at
    from stored
    semi join (select * from restart where goes_on) as restart using (user_id, month_start_date)
    where stored.request_id is not null
    {%- endif %}
),

final as (
    select
        months.user_id || '/' || {{ year_month('months.month_start_date') }} || '/' || alert_types.alert_type as alert_key,
        months.user_id, months.month_start_date, alert_types.alert_type, alert_types.metric,
        cast(alert_types.threshold_percent as integer) as threshold_percent,
        cast(months.quota_tokens as bigint) as quota_tokens,
        cast(months.quota_spend_usd as decimal(38, 12)) as quota_spend_usd,
        cast(found.used_tokens as bigint) as used_tokens,
        cast(found.used_spend_usd as decimal(38, 12)) as used_spend_usd,
        found.request_id,
        found.created_at,
        cast(months.month_tokens as bigint) as month_tokens,
        cast(months.month_spend_usd as decimal(38, 12)) as month_spend_usd,
        months.last_created_at,
        cast(current_timestamp as timestamp) as updated_at,
        ({{ quota_fingerprint_sql() }}) as knobs_fingerprint
    from months
    cross join alert_types
    left join found using (user_id, month_start_date, alert_type)
)

select * from final
