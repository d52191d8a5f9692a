with prices as (
    select * from {{ ref('stg_catalog__model_prices') }}
),

final as (
    select
        model,
        provider,
        display_name,
        tier,
        input_price_per_1m_usd,
        output_price_per_1m_usd,
        cache_read_price_per_1m_usd,
        cache_write_price_per_1m_usd,
        reasoning_price_per_1m_usd,
        valid_from,
        valid_to,
        price_source,
        price_as_of
    from prices
    order by provider, model, valid_from
)

select * from final
