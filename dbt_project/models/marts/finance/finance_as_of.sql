-- One row: "now" for the finance and reporting marts, read when a mart is queried (they are views), so that the
-- running month is provisional and today is a partial day whenever someone reads them. A test that needs a fixed
-- day replaces this view (the marts name it `main.finance_as_of`) or mocks it in a unit test.
with clock as (
    select current_timestamp as now_at
),

final as (
    select
        cast(now_at as timestamptz) as as_of_at,
        cast(timezone('UTC', now_at) as date) as as_of_date,
        strftime(timezone('UTC', now_at), '%Y-%m') as running_month,
        cast(timezone('{{ reporting_timezone() }}', now_at) as date) as reporting_date
    from clock
)

select * from final
