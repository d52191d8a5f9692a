-- One row: "now" for the finance and reporting marts, read when a mart is queried (they are views), so that the
-- running month is provisional and today is a partial day whenever someone reads them. A test that needs a fixed
-- day replaces this view (the marts name it `main.finance_as_of`) or mocks it in a unit test.
with clock as (
    select current_timestamp as now_at
),

final as (
    select
        cast(now_at as {{ timestamptz() }}) as as_of_at,
        cast({{ instant_to_local('now_at', "'UTC'") }} as date) as as_of_date,
        {{ year_month(instant_to_local('now_at', "'UTC'")) }} as running_month,
        cast({{ instant_to_local('now_at', "'" ~ reporting_timezone() ~ "'") }} as date) as reporting_date
    from clock
)

select * from final
