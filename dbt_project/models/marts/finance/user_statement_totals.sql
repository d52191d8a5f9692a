-- One row per month: the month's statements added up, exact and as invoiced (each statement rounded to cents once),
-- and the total rounding difference, so that finance can reconcile the invoices with the revenue.
with statements as (
    select * from {{ ref('user_statements') }}
),

final as (
    select
        {{ statement_period_columns() }},
        count(*) as statements,
        cast(sum(amount_due_usd) as decimal(38, 12)) as amount_due_usd,
        cast(sum(amount_due_rounded_usd) as decimal(38, 2)) as amount_due_rounded_usd,
        cast(sum(rounding_difference_usd) as decimal(38, 12)) as rounding_difference_usd
    from statements
    group by {{ statement_period_columns() }}
)

select * from final
