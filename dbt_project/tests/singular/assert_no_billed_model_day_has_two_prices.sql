-- Catalog quality gate: no model billed on a day has two catalog prices in effect that day (the request would be
-- priced twice). contiguous_validity on model_catalog catches this for the whole catalog; this names the days.
{{ config(meta={'dagster': {'ref': {'name': 'model_catalog'}}}) }}
with billed_days as (
    select distinct model, created_date
    from {{ ref('stg_raw__gateway_requests') }}
    where is_billed
),

catalog as (
    select * from {{ ref('model_catalog') }}
)

select billed_days.model, billed_days.created_date, count(*) as prices_in_effect
from billed_days
inner join catalog
    on catalog.model = billed_days.model
    and catalog.valid_from <= billed_days.created_date
    and (catalog.valid_to is null or billed_days.created_date < catalog.valid_to)
group by all
having count(*) > 1
