-- Step 3 of pricing-rules.md: the provider's cost of each request, from the catalog price in effect at its
-- created_at. A billed request whose model has no price is kept with has_price = false and no cost: it is held
-- back from billing (see unpriced_requests), never billed at $0.
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
        prices.output_price_per_1m_usd
    from requests
    left join prices
        on requests.model = prices.model
        and requests.created_at >= prices.valid_from
        and (prices.valid_to is null or requests.created_at < prices.valid_to)
),

final as (
    select
        *,
        case
            when not is_billed then cast(0 as decimal(38, 12))
            when has_price then cast(
                (input_tokens * input_price_per_1m_usd + output_tokens * output_price_per_1m_usd)
                * cast(0.000001 as decimal(7, 6))
                as decimal(38, 12)
            )
        end as provider_cost_usd
    from joined
)

select * from final
