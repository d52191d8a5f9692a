-- One row per request: the lines of the monthly user statements (month = UTC calendar month of created_at).
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

final as (
    select
        {{ year_month('created_at') }} as month,
        user_id,
        request_id,
        created_at,
        model,
        status_code,
        is_billed,
        total_tokens,
        trial_tokens,
        chargeable_tokens,
        list_charge_usd,
        trial_credit_usd,
        user_charge_usd
    from requests
)

select * from final
