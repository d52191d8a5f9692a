-- One row per distinct request that is billed and priced, or not billed. Billed requests of models with no
-- catalog price are held back in unpriced_requests until the catalog has them.
with requests as (
    select * from {{ ref('int_requests_charged') }}
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
        trial_tokens,
        chargeable_tokens,
        is_trial_covered,
        provider_cost_usd,
        markup_usd,
        user_charge_usd,
        list_charge_usd,
        trial_credit_usd,
        price_valid_from,
        gateway_cost_usd
    from requests
    where has_price or not is_billed
)

select * from final
