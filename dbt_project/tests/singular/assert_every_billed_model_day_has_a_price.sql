-- Catalog quality gate: every model billed on a day has a catalog price in effect on that day. Warns (does not
-- stop the build): the requests are held back in unpriced_requests, never billed at $0, until the seed has them.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'model_catalog'}}}) }}
with billed_days as (
    select model, created_date, count(*) as billed_requests
    from {{ ref('stg_raw__gateway_requests') }}
    where is_billed
    group by all
),

catalog as (
    select * from {{ ref('model_catalog') }}
)

select billed_days.model, billed_days.created_date, billed_days.billed_requests
from billed_days
where not exists (
    select 1 from catalog
    where catalog.model = billed_days.model
        and catalog.valid_from <= billed_days.created_date
        and (catalog.valid_to is null or billed_days.created_date < catalog.valid_to)
)
