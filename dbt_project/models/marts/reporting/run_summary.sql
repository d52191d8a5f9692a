-- One row: the figures `make run` prints and the spending report's headline: requests, revenue, cost, profit and
-- trial credit over all history, the days covered, and what is kept aside (quarantined lines, held-back requests).
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

days as (
    select * from {{ ref('ai_revenue_analytics') }}
),

quarantine as (
    select * from {{ ref('stg_raw__quarantine') }}
),

unpriced as (
    select * from {{ ref('unpriced_requests') }}
),

totals as (
    select
        count(*) as requests,
        count(distinct user_id) as users,
        cast(coalesce(sum(total_tokens), 0) as bigint) as total_tokens,
        cast(coalesce(sum(user_charge_usd), 0) as decimal(38, 12)) as revenue_usd,
        cast(coalesce(sum(provider_cost_usd), 0) as decimal(38, 12)) as provider_cost_usd,
        cast(coalesce(sum(markup_usd), 0) as decimal(38, 12)) as profit_usd,
        cast(coalesce(sum(trial_credit_usd), 0) as decimal(38, 12)) as trial_credit_usd,
        cast(min(created_at) as date) as first_request_date,
        cast(max(created_at) as date) as last_request_date
    from requests
),

final as (
    select
        totals.*,
        (select min(date) from days) as first_date,
        (select max(date) from days) as last_date,
        (select count(*) from quarantine) as quarantined_lines,
        (select count(*) from unpriced) as unpriced_requests
    from totals
)

select * from final
