-- Catalog quality gate: every model billed on a day has a catalog price in effect for its requests (through its
-- alias, its service tier, window and long-context tier). Warns (does not stop the build): the requests are held
-- back in unpriced_requests, never billed at $0, until the catalog has them.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'model_catalog'}}}) }}
with requests as (
    -- the table that holds every request as last priced; a catalog change re-prices every row of it before this
    -- test runs
    select *, cast(created_at as date) as created_date from {{ ref('int_requests_priced') }}
)

select model, created_date, count(*) as billed_requests
from requests
where {{ is_held_back() }}
group by all
