-- Steps 5 to 7 of pricing-rules.md for the current pricing: what the user is charged, the markup (profit), the list
-- charge and the trial credit, in USD. The rows of knob_set 0 (the vars) of int_requests_policy_charged, the view
-- that prices every policy the same way (the what-if scenarios are its other rows): one pricing path.
-- Incremental: the rows int_requests_trial_applied priced since this model's last run (`priced_at`); a change of the
-- markup or minimum knobs (the fingerprint) prices every row again. Stored once, narrow, for ai_usage_analytics,
-- int_model_usage_daily and the billing alerts.
{{
    config(
        materialized=incremental_materialization(),
        unique_key='request_id',
        incremental_strategy='delete+insert',
        delete_bound='created_at',
        on_schema_change='sync_all_columns',
        tags=['daily'],
        pre_hook="{{ drop_rows_of_other_knobs(knobs_fingerprint(pricing_policy())) }}",
    )
}}

with charged as (
    select * from {{ ref('int_requests_policy_charged') }}
    where knob_set = 0
    {%- if is_incremental() %}
        and priced_at > {{ watermark('priced_at', knobs_fingerprint(pricing_policy())) }}
    {%- endif %}
),

final as (
    select
        -- (not the trial's inputs, costed_at, is_trial_eligible and trial_tokens_before: no reader needs them here)
        * except (knob_set, set_markup_factor_units, set_minimum_units, set_free_trial_tokens, provider_cost_units,
                   markup_factor_units, user_charge_units, list_charge_units, knobs_fingerprint, costed_at,
                   is_trial_eligible, trial_tokens_before),
        {{ knobs_fingerprint(pricing_policy()) }} as knobs_fingerprint
    from charged
)

select * from final
