-- Steps 5 to 7 of pricing-rules.md for the current pricing: what the user is charged, the markup (profit), the list
-- charge and the trial credit, in USD, with the request's trial share. The rows of knob_set 0 (the vars) of the one
-- pricing path (policy_charged_ctes in macros/pricing.sql), which int_requests_trial_applied runs in the same pass
-- as the trial and stores: this view shows those columns (nothing is priced or stored twice). Read by
-- ai_usage_analytics, int_model_usage_daily and the billing alerts; a change of the markup or minimum knobs
-- re-prices int_requests_trial_applied (its fingerprint).
{{ config(materialized='view') }}

with trial_applied as (
    select * from {{ ref('int_requests_trial_applied') }}
),

final as (
    select
        request_id,
        user_id,
        model,
        provider,
        created_at,
        is_billed,
        has_price,
        total_tokens,
        provider_cost_usd,
        priced_at,
        {{ current_charge_columns() }},
        {{ knobs_fingerprint(pricing_policy()) }} as knobs_fingerprint
    from trial_applied
)

select * from final
