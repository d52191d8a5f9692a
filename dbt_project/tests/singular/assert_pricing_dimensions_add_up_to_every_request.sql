-- Each dimension of pricing_dimension_usage adds up to every request of ai_usage_analytics, to the last decimal.
{{ config(meta={'dagster': {'ref': {'name': 'pricing_dimension_usage'}}}) }}
with totals as (
    select count(*) as requests, sum(provider_cost_usd) as provider_cost_usd, sum(user_charge_usd) as user_charge_usd
    from {{ ref('ai_usage_analytics') }}
),

dimensions as (
    select * from (values ('service_tier'), ('time_window'), ('long_context_tier'), ('cache_write_lifetime')) as d (dimension)
),

per_dimension as (
    select
        dimension,
        sum(requests) as requests,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd
    from {{ ref('pricing_dimension_usage') }}
    group by dimension
)

select dimensions.dimension, per_dimension.requests, totals.requests as expected_requests
from dimensions
cross join totals
left join per_dimension using (dimension)
where coalesce(per_dimension.requests, 0) is distinct from totals.requests
    or per_dimension.provider_cost_usd is distinct from totals.provider_cost_usd
    or per_dimension.user_charge_usd is distinct from totals.user_charge_usd
