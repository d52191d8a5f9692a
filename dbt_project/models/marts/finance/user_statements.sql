-- One row per month (UTC calendar month) and user: the statement, i.e. what the user owes for the month. The sum of
-- its lines in user_statement_lines. A user missing from the users export has no e-mail or plan but is billed.
-- amount_due_usd is exact; amount_due_rounded_usd is it rounded once to cents, half up (away from zero; amounts due
-- are never negative), and rounding_difference_usd = rounded - exact (pricing-rules.md, "Statements").
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

users as (
    select * from {{ ref('users') }}
),

as_of as (
    select * from {{ ref('finance_as_of') }}
),

per_user_month as (
    select
        cast(date_trunc('month', created_at) as date) as period_start_date,
        user_id,
        {{ request_sums(['requests', 'billed_requests', 'total_tokens', 'trial_tokens', 'chargeable_tokens',
                         'list_charge_usd', 'trial_credit_usd', ('amount_due_usd', 'user_charge_usd')],
                        money_type='decimal(38, 12)') }}
    from requests
    group by period_start_date, user_id
),

final as (
    select
        {{ statement_period('per_user_month.period_start_date') }},
        per_user_month.user_id,
        users.email,
        users.plan,
        per_user_month.requests,
        per_user_month.billed_requests,
        per_user_month.total_tokens,
        per_user_month.trial_tokens,
        per_user_month.chargeable_tokens,
        per_user_month.list_charge_usd,
        per_user_month.trial_credit_usd,
        per_user_month.amount_due_usd,
        cast(round(per_user_month.amount_due_usd, 2) as decimal(38, 2)) as amount_due_rounded_usd,
        cast(round(per_user_month.amount_due_usd, 2) - per_user_month.amount_due_usd as decimal(38, 12))
            as rounding_difference_usd
    from per_user_month
    cross join as_of
    left join users on per_user_month.user_id = users.id
)

select * from final
