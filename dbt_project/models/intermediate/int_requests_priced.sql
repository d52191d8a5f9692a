-- Step 3 of pricing-rules.md: the provider's cost of each request, from the catalog price in effect at its
-- created_at (valid_from inclusive, valid_to exclusive, UTC days). Cached input, cache writes and reasoning tokens
-- are priced by their own prices where the catalog has them (see provider_cost_usd_expr in macros/pricing.sql).
-- A billed request whose model has no price is kept with has_price = false and no cost: it is held back from
-- billing (see unpriced_requests), never billed at $0.
-- A view: per-row arithmetic, read by the incremental int_requests_trial_applied for the requests it re-prices.
{{ config(materialized='view') }}

with requests as (
    select * from {{ ref('stg_raw__gateway_requests') }}
),

prices as (
    select * from {{ ref('stg_catalog__model_prices') }}
),

joined as (
    select
        requests.*,
        prices.model is not null as has_price,
        prices.valid_from as price_valid_from,
        prices.input_price_per_1m_usd,
        prices.output_price_per_1m_usd,
        prices.cache_read_price_per_1m_usd,
        prices.cache_write_price_per_1m_usd,
        prices.reasoning_price_per_1m_usd
    from requests
    left join prices
        on requests.model = prices.model
        and requests.created_at >= prices.valid_from
        and (prices.valid_to is null or requests.created_at < prices.valid_to)
),

final as (
    select
        *,
        {{ provider_cost_usd_expr() }} as provider_cost_usd
    from joined
)

select * from final
