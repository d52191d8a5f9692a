-- Step 3 of pricing-rules.md: the provider's cost of each request, from the catalog price in effect at its
-- created_at. The logged model name is first mapped to its catalog model (stg_catalog__model_aliases, from the
-- alias's valid_from on); then the catalog row is the one of that model whose validity range holds the request's
-- UTC day (valid_from inclusive, valid_to exclusive), whose time-of-day window holds its time in the window's time
-- zone, whose service tier is the request's (else `any`), and whose long-context tier is the highest one below the
-- request's input tokens (the whole request at that tier's prices). Each token type is priced at its own price
-- (see provider_cost_usd_expr in macros/pricing.sql).
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

aliases as (
    select * from {{ ref('stg_catalog__model_aliases') }}
),

resolved as (
    select
        requests.*,
        coalesce(aliases.model, requests.model) as catalog_model
    from requests
    left join aliases
        on requests.model = aliases.alias
        and (aliases.valid_from is null or requests.created_at >= aliases.valid_from)
),

candidates as (
    select
        resolved.request_id,
        prices.model,
        prices.valid_from,
        prices.service_tier,
        prices.window_start,
        prices.window_end,
        prices.window_timezone,
        prices.input_tokens_above,
        prices.input_price_per_1m_usd,
        prices.output_price_per_1m_usd,
        prices.cache_read_price_per_1m_usd,
        prices.cache_write_price_per_1m_usd,
        prices.cache_write_1h_price_per_1m_usd,
        prices.reasoning_price_per_1m_usd,
        row_number() over (
            partition by resolved.request_id
            order by prices.service_tier = resolved.service_tier desc, prices.input_tokens_above desc nulls last
        ) as price_rank,
        -- two rows at the same rank would be an ambiguous catalog: the gate assert_no_request_has_two_prices
        count(*) over (
            partition by resolved.request_id, prices.service_tier = resolved.service_tier, prices.input_tokens_above
        ) as rows_at_rank
    from resolved
    inner join prices
        on resolved.catalog_model = prices.model
        and resolved.created_at >= prices.valid_from
        and (prices.valid_to is null or resolved.created_at < prices.valid_to)
        and (prices.service_tier = resolved.service_tier or prices.service_tier = 'any')
        and (prices.input_tokens_above is null or resolved.input_tokens > prices.input_tokens_above)
        and (
            prices.window_start is null
            or {{ in_time_window('resolved.created_at', 'prices.window_start', 'prices.window_end', 'prices.window_timezone') }}
        )
),

joined as (
    select
        resolved.*,
        candidates.model is not null as has_price,
        candidates.valid_from as price_valid_from,
        candidates.service_tier as price_service_tier,
        candidates.window_start as price_window_start,
        candidates.window_end as price_window_end,
        candidates.window_timezone as price_window_timezone,
        candidates.input_tokens_above as price_input_tokens_above,
        coalesce(candidates.rows_at_rank > 1, false) as is_price_ambiguous,
        candidates.input_price_per_1m_usd,
        candidates.output_price_per_1m_usd,
        candidates.cache_read_price_per_1m_usd,
        candidates.cache_write_price_per_1m_usd,
        candidates.cache_write_1h_price_per_1m_usd,
        candidates.reasoning_price_per_1m_usd
    from resolved
    left join candidates
        on resolved.request_id = candidates.request_id
        and candidates.price_rank = 1
),

final as (
    select
        *,
        {{ provider_cost_usd_expr() }} as provider_cost_usd
    from joined
)

select * from final
