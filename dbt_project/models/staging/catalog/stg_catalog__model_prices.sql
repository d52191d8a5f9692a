-- The model catalog seed, typed. Prices are USD per 1M tokens with at most 6 decimals, so that
-- tokens x price / 1e6 is exact at 12 decimals.
with source as (
    select * from {{ ref('model_prices') }}
),

renamed as (
    select
        model,
        provider,
        display_name,
        tier,
        cast(input_price_per_1m_usd as decimal(18, 6)) as input_price_per_1m_usd,
        cast(output_price_per_1m_usd as decimal(18, 6)) as output_price_per_1m_usd,
        cast(cache_read_price_per_1m_usd as decimal(18, 6)) as cache_read_price_per_1m_usd,
        cast(cache_write_price_per_1m_usd as decimal(18, 6)) as cache_write_price_per_1m_usd,
        cast(reasoning_price_per_1m_usd as decimal(18, 6)) as reasoning_price_per_1m_usd,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to,
        price_source,
        cast(price_as_of as date) as price_as_of
    from source
)

select * from renamed
