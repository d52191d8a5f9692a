-- One row per billing alert (billing_alerts): what each user's spending page lists, newest first.
with alerts as (
    select * from {{ ref('billing_alerts') }}
),

final as (
    select
        user_id,
        alert_key,
        alert_type,
        metric,
        threshold_percent,
        {{ year_month('month_start_date') }} as period_month,
        quota_tokens,
        quota_spend_usd,
        used_tokens,
        used_spend_usd,
        {{ utc_instant('crossed_at') }} as crossed_at
    from alerts
)

select * from final
