with source as (
    select * from {{ source('raw', 'gateway_requests') }}
),

renamed as (
    select
        id as request_id,
        user_id,
        model,
        split_part(model, '/', 1) as provider,
        case when split_part(model, '/', 1) = 'azure' then 'azure' else 'ai_gateway' end as route,
        created_at,
        cast(created_at as date) as created_date,
        status_code,
        status_code between 200 and 299 as is_billed,
        native_tokens_prompt as input_tokens,
        native_tokens_completion as output_tokens,
        native_tokens_prompt + native_tokens_completion as total_tokens,
        native_tokens_cached as cached_tokens,
        native_tokens_cache_creation as cache_creation_tokens,
        coalesce(native_tokens_cache_creation_1h, 0) as cache_creation_1h_tokens,
        native_tokens_reasoning as reasoning_tokens,
        coalesce(service_tier, 'default') as service_tier,
        total_cost as gateway_cost_usd,
        source,
        source_line,
        loaded_at
    from source
)

select * from renamed
