-- One row per distinct request that is billed and priced, or not billed. Billed requests of models with no
-- catalog price are held back in unpriced_requests until the catalog has them.
-- Incremental (macros/incremental.sql): takes the requests int_requests_trial_applied re-priced since the last run;
-- a change of the markup or minimum knobs re-prices everything (the pre-hook drops rows with other knobs).
{%- set policy_fingerprint = knobs_fingerprint(pricing_policy()) %}
{{
    config(
        materialized=incremental_materialization(),
        unique_key='request_id',
        incremental_strategy='delete+insert',
        delete_bound='created_at',
        on_schema_change='fail',
        tags=['daily'],
        meta={'uncompressed_columns': ['request_id']},
        pre_hook="{{ drop_rows_of_other_knobs(knobs_fingerprint(pricing_policy())) }}",
        post_hook="{{ delete_from(this, 'request_id in (select request_id from ' ~ ref('int_requests_trial_applied') ~ ' where ' ~ is_held_back() ~ ')') }}",
    )
}}

{%- set charged_where -%}
    ({{ is_kept_for_billing() }})
    {%- if is_incremental() %} and priced_at > {{ watermark('priced_at', policy_fingerprint) }}{% endif %}
{%- endset %}

with charged {{ cte_inlined() }} (
    -- the trial's narrow rows with their charges (int_requests_charged: the current pricing's rows, stored)
    select * from {{ ref('int_requests_charged') }}
    where {{ charged_where }}
),

requests as (
    -- the request's other columns, taken once from int_requests_priced (the table that holds them): a join on
    -- request_id, in pieces of created_at (macros/created_at_ranges.sql: a full build's hash table fits in memory)
    {%- call(range) union_all_by_created_at(created_at_ranges(ref('int_requests_charged'), charged_where)) %}
    select
        charged.*,
        priced.route,
        priced.status_code,
        priced.input_tokens,
        priced.output_tokens,
        priced.cached_tokens,
        priced.cache_creation_tokens,
        priced.reasoning_tokens,
        priced.cache_creation_1h_tokens,
        priced.service_tier,
        priced.catalog_model,
        priced.price_valid_from,
        priced.price_service_tier,
        priced.price_window_start,
        priced.price_window_end,
        priced.price_window_timezone,
        priced.price_input_tokens_above,
        priced.gateway_cost_usd
    from (select * from charged where {{ in_created_at_range('created_at', range) }}) as charged
    inner join (
        select * from {{ ref('int_requests_priced') }} where {{ in_created_at_range('created_at', range) }}
    ) as priced using (request_id)
    {%- if is_incremental() %}
    -- lets the scan of int_requests_priced skip the row groups older than every re-priced request
    where priced.created_at >= (select min(created_at) from charged)
    {%- endif %}
    {%- endcall %}
),

final as (
    select
        request_id,
        user_id,
        model,
        provider,
        route,
        created_at,
        status_code,
        is_billed,
        input_tokens,
        output_tokens,
        total_tokens,
        cached_tokens,
        cache_creation_tokens,
        reasoning_tokens,
        cache_creation_1h_tokens,
        service_tier,
        catalog_model,
        trial_tokens,
        chargeable_tokens,
        is_trial_covered,
        provider_cost_usd,
        markup_usd,
        user_charge_usd,
        list_charge_usd,
        trial_credit_usd,
        price_valid_from,
        price_service_tier,
        price_window_start,
        price_window_end,
        price_window_timezone,
        price_input_tokens_above,
        gateway_cost_usd,
        priced_at,
        cast(current_timestamp as timestamp) as updated_at,
        {{ policy_fingerprint }} as knobs_fingerprint
    from requests
)

select * from final
