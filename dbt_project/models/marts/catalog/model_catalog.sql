with prices as (
    select * from {{ ref('stg_catalog__model_prices') }}
),

final as (
    select
        model,
        provider,
        display_name,
        tier,
        service_tier,
        window_start,
        window_end,
        window_timezone,
        input_tokens_above,
        input_price_per_1m_usd,
        output_price_per_1m_usd,
        cache_read_price_per_1m_usd,
        cache_write_price_per_1m_usd,
        cache_write_1h_price_per_1m_usd,
        reasoning_price_per_1m_usd,
        valid_from,
        valid_to,
        price_source,
        source_model,
        note
    from prices
    order by provider, model, valid_from, service_tier, window_start, input_tokens_above
)

select * from final
