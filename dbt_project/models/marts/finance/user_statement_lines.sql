-- One row per request: the lines of the monthly user statements (period = UTC calendar month of created_at).
-- Lines are exact; a statement's total is rounded once, in user_statements. created_at carries its zone (UTC).
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

as_of as (
    select * from {{ ref('finance_as_of') }}
),

final as (
    select
        {{ statement_period('requests.created_at') }},
        requests.user_id,
        requests.request_id,
        {{ utc_instant('requests.created_at') }} as created_at,
        requests.model,
        requests.status_code,
        requests.is_billed,
        requests.total_tokens,
        requests.trial_tokens,
        requests.chargeable_tokens,
        requests.list_charge_usd,
        requests.trial_credit_usd,
        requests.user_charge_usd
    from requests
    cross join as_of
)

select * from final
