-- One row per month: the month's statements added up, exact and as invoiced (each statement rounded to cents once),
-- and the total rounding difference, so that finance can reconcile the invoices with the revenue.
with statements as (
    select * from {{ ref('user_statements') }}
),

final as (
    select
        period_month,
        period_start_date,
        period_end_date,
        is_provisional,
        count(*) as statements,
        cast(sum(amount_due_usd) as decimal(38, 12)) as amount_due_usd,
        cast(sum(amount_due_rounded_usd) as decimal(38, 2)) as amount_due_rounded_usd,
        cast(sum(rounding_difference_usd) as decimal(38, 12)) as rounding_difference_usd
    from statements
    group by period_month, period_start_date, period_end_date, is_provisional
)

select * from final
