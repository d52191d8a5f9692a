-- Step 3 of pricing-rules.md: the provider's cost of each request, from the catalog price in effect at created_at.
-- The logged model name is mapped to its catalog model (stg_catalog__model_aliases, from the alias's valid_from
-- on); the catalog row is the one of that model whose validity range holds the request's UTC day, whose
-- time-of-day window holds its time in the window's time zone, whose service tier is the request's (else `any`)
-- and whose long-context tier is the highest one below its input tokens. Each token type is priced at its own
-- price (provider_cost_usd_expr in macros/pricing.sql). A billed request whose model has no price is kept with
-- has_price = false and no cost: held back from billing (unpriced_requests), never billed at $0.
-- Incremental: a request is priced once, when new; held-back ones again on every run; a catalog change (its
-- fingerprint) prices all again. `costed_at` says when a row was priced (int_requests_trial_applied takes the
-- rows priced since its last run). Speed: one arg_max per request picks its row (no window over all requests).
{#- incremental_predicates: the stored rows a run replaces are held-back ones (a new request is not here yet; a
    catalog change empties the table first), so the delete probes the rows without a price alone (a constant test
    that DuckDB applies in the scan), not every request id. -#}
{{
    config(
        materialized=incremental_materialization(),
        unique_key='request_id',
        incremental_strategy='delete+insert',
        incremental_predicates=['(has_price = false or has_price is null)'],
        on_schema_change='sync_all_columns',
        tags=['daily'],
        meta={'uncompressed_columns': ['request_id']},
        pre_hook="{{ drop_rows_of_other_knobs(catalog_fingerprint_sql(), 'catalog_fingerprint') }}",
    )
}}

{#- a full build prices every request in pieces of created_at; an incremental run (a day) in one -#}
{%- set pieces = whole_created_at_range() if is_incremental() else created_at_ranges(ref('stg_raw__gateway_requests')) %}

with {{ requests_to_price(ref('stg_raw__gateway_requests')) }}

prices as (
    -- each catalog row with its prices as integer units (macros/pricing.sql) and its number, price_cell
    {{ catalog_price_units(ref('stg_catalog__model_prices')) | indent(4) }}
),

aliases as (
    select * from {{ ref('stg_catalog__model_aliases') }}
),

joined as (
    -- each request with its catalog row: per request, so a full build runs it in pieces of created_at
    -- (macros/created_at_ranges.sql), each piece's requests and group by held in memory (one piece of every request
    -- spilled to disk at 5M requests with 1 GiB)
    {%- call(range) union_all_by_created_at(pieces) %}
    with resolved as (
        select
            requests.*,
            coalesce(aliases.model, requests.model) as catalog_model
        from (select * from requests where {{ in_created_at_range('created_at', range) }}) as requests
        left join aliases
            on requests.model = aliases.alias
            and (aliases.valid_from is null or requests.created_at >= aliases.valid_from)
    ),

    candidates as (
        select
            resolved.request_id,
            prices.price_cell,
            -- the rank: the request's own service tier first, then the highest long-context tier (none lowest)
            cast(coalesce(prices.service_tier = resolved.service_tier, false) as bigint) * 4611686018427387904
                + coalesce(prices.input_tokens_above, -1) + 1 as price_rank
        from resolved
        inner join prices
            on resolved.catalog_model = prices.model
            and resolved.created_at >= prices.valid_from
            and (prices.valid_to is null or resolved.created_at < prices.valid_to)
            and (prices.service_tier = resolved.service_tier or prices.service_tier = 'any')
            and (prices.input_tokens_above is null or resolved.input_tokens > prices.input_tokens_above)
            and (
                prices.window_start is null
                or {{ in_time_window('resolved.created_at', 'prices.window_start', 'prices.window_end',
                                     'prices.window_timezone') }}
            )
    ),

    best as (
        select
            request_id,
            -- the catalog row of the highest rank (of equal ranks, the highest price_cell) and, of the highest rank,
            -- the lowest price_cell: when they differ, two rows would price the request (gate
            -- assert_no_billed_model_day_has_two_prices). Two fixed-size aggregates, which DuckDB spills to disk
            -- beyond its memory limit (a list of the two highest ranks could not: out of memory at 10M requests with
            -- 1 GiB).
            max_by(price_cell, cast(price_rank as {{ int128() }}) * 4294967296 + price_cell) as price_cell,
            max_by(price_cell, cast(price_rank as {{ int128() }}) * 4294967296 - price_cell) as lowest_top_cell
        from candidates
        group by request_id
    )

    select
        resolved.* except (created_date),
        prices.model is not null as has_price,
        prices.valid_from as price_valid_from,
        prices.service_tier as price_service_tier,
        prices.window_start as price_window_start,
        prices.window_end as price_window_end,
        prices.window_timezone as price_window_timezone,
        prices.input_tokens_above as price_input_tokens_above,
        coalesce(best.price_cell <> best.lowest_top_cell, false) as is_price_ambiguous,
        -- the cost only (the row's prices are in the catalog: price_* name the row)
        case
            when not resolved.is_billed then cast(0 as decimal(38, 12))
            when prices.model is not null then {{ provider_cost_usd_expr() | indent(16) }}
        end as provider_cost_usd
    from resolved
    left join best using (request_id)
    left join prices using (price_cell)
    {%- endcall %}
),

final as (
    select
        *,
        ({{ catalog_fingerprint_sql() | indent(8) }}) as catalog_fingerprint,
        cast(current_timestamp as timestamp) as costed_at
    from joined
)

select * from final
