-- Catalog quality gate: no billed request finds two catalog rows of equal rank (same model, day, window, service
-- tier and long-context tier): it would be priced twice. contiguous_validity and the uniqueness test on model_catalog
-- catch most of this for the whole catalog; this names the model and day.
{{ config(meta={'dagster': {'ref': {'name': 'model_catalog'}}}) }}
with requests as (
    -- the table that holds every request as last priced; a catalog change re-prices every row of it before this
    -- test runs
    select *, cast(created_at as date) as created_date from {{ ref('int_requests_priced') }}
)

select model, catalog_model, created_date, count(*) as ambiguous_requests
from requests
where is_billed and is_price_ambiguous
group by all
