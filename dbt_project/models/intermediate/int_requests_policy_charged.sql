-- Steps 4 to 7 of pricing-rules.md under every pricing policy: one row per request of int_requests_trial_applied and
-- distinct set of knobs (`knob_set`; 0 is the current pricing, the vars). The one pricing path
-- (policy_charged_ctes in macros/pricing.sql): int_requests_trial_applied prices the current pricing (knob_set 0)
-- with it and stores the charges (int_requests_charged shows them); every what-if scenario (int_pricing_policy_daily)
-- is a row of this view. Charges are rounded half to even on integer pico-dollars (macros/pricing.sql, money.sql); a
-- view, computed where it is read.
{{ config(materialized='view') }}

with requests as (
    -- the trial's inputs (the current pricing's trial tokens and charges stored beside them are priced again here)
    select * except ({{ current_charge_columns() }})
    from {{ ref('int_requests_trial_applied') }}
),

{{ policy_charged_ctes('requests', policy_knob_sets(pricing_policies())) }}

final as (
    select * from policy_charged
)

select * from final
