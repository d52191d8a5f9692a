-- Every pricing policy applied to every request, summed per policy and day (reporting_timezone): the current
-- pricing (policy `(current pricing)`, order 0: the vars; no scenario name can take it) and each what-if scenario of `pricing_scenarios` (order 1..n).
-- Policies are rows (the CTEs `policies`, `knob_sets` and `policy_markups`), all priced by the same per-row steps of
-- macros/pricing.sql on the rows of int_requests_trial_applied; pricing_scenario_comparison sums the days to months.
-- Incremental like the daily marts (macros/incremental.sql): the days with a request re-priced since the last run
-- are summed again, whole; a day left with no request is deleted; a change of the policies or the reporting time
-- zone (the fingerprint) recomputes every day.
{%- set policies = pricing_policies() %}
{%- set group_keys = {'date': reporting_date('created_at')} %}
{%- set fingerprint = {'policies': policies, 'reporting_timezone': reporting_timezone()} %}
{{
    config(
        materialized=incremental_materialization(),
        unique_key=['scenario', 'date'],
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
        pre_hook=[
            "{{ drop_rows_of_other_knobs(knobs_fingerprint({'policies': pricing_policies(), 'reporting_timezone': reporting_timezone()})) }}",
            "{{ delete_emptied_groups('int_requests_trial_applied', " ~ group_keys ~ ", where='has_price or not is_billed') }}",
        ],
    )
}}
{#- Policies with the same knobs (the current pricing and the default scenario `current`) are priced once: each
    distinct set of knobs is a `knob_set` (macros/pricing.sql: policy_knob_sets). -#}
{%- set sets = policy_knob_sets(policies) %}
{%- set knob_sets, policy_sets, markups = sets['knob_sets'], sets['policy_sets'], sets['markups'] %}

with requests {{ cte_inlined() }} (
    -- the requests ai_usage_analytics holds: priced, or not billed
    select *, priced_at as updated_at
    from {{ ref('int_requests_trial_applied') }}
    where has_price or not is_billed
),

{{ rows_of_changed_groups('requests', group_keys) }}

policies as (
    -- one row per policy: its name, order and knobs as shown, and the set of knobs that prices it
    select * from (values
        {%- for policy in policies %}
        ('{{ policy["name"] }}', {{ loop.index0 }}, {{ policy_sets[loop.index0] }},
         cast('{{ policy["markup_percentage"] }}' as decimal(9, 4)),
         {{ minimum_charge_usd(policy['minimum_charge_usd'], 'pricing_scenarios.' ~ policy['name']) }},
         cast({{ policy['free_trial_tokens'] }} as bigint)){{ "," if not loop.last }}
        {%- endfor %}
    ) as policies (scenario, scenario_order, knob_set, scenario_markup_percentage, scenario_minimum_charge_usd,
                   scenario_free_trial_tokens)
),

knob_sets as (
    select * from (values
        {%- for policy in knob_sets %}
        ({{ loop.index0 }}, {{ markup_factor_units(policy['markup_percentage']) }},
         {{ usd_to_units(minimum_charge_usd(policy['minimum_charge_usd'], 'pricing_scenarios.' ~ policy['name'])) }},
         cast({{ policy['free_trial_tokens'] }} as bigint)){{ "," if not loop.last }}
        {%- endfor %}
    ) as knob_sets (knob_set, set_markup_factor_units, set_minimum_units, set_free_trial_tokens)
),

{%- if markups %}

-- per-model and per-provider markups of each policy: the model's wins over the provider's over the global one
policy_markups as (
    select * from (values
        {%- for name, kind, key, factor in markups %}
        ('{{ name }}', '{{ kind }}', '{{ key }}', {{ factor }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as policy_markups (knob_set, kind, markup_key, markup_factor_units)
),
{%- endif %}

costed as (
    -- once per request, before the policies multiply the rows
    select
        * except (trial_tokens, chargeable_tokens, is_trial_covered),
        {{ usd_to_units('provider_cost_usd') }} as provider_cost_units
    from to_sum
),

policy_requests as (
    select
        costed.*,
        knob_sets.*,
        {%- if markups %}
        coalesce(model_markups.markup_factor_units, provider_markups.markup_factor_units,
                 knob_sets.set_markup_factor_units) as markup_factor_units
        {%- else %}
        knob_sets.set_markup_factor_units as markup_factor_units
        {%- endif %}
    from costed
    cross join knob_sets
    {%- if markups %}
    left join policy_markups as model_markups
        on model_markups.kind = 'model' and model_markups.knob_set = knob_sets.knob_set
        and model_markups.markup_key = costed.model
    left join policy_markups as provider_markups
        on provider_markups.kind = 'provider' and provider_markups.knob_set = knob_sets.knob_set
        and provider_markups.markup_key = costed.provider
    {%- endif %}
),

trial_tokens as (
    select
        *,
        {{ trial_tokens_expr('set_free_trial_tokens') }} as trial_tokens
    from policy_requests
),

trial_applied as (
    select
        *,
        {{ chargeable_tokens_expr() }} as chargeable_tokens,
        {{ is_trial_covered_expr('set_free_trial_tokens') }} as is_trial_covered,
        {{ marked_up_units_x1e6_expr('markup_factor_units') }} as marked_up_units_x1e6
    from trial_tokens
),

rounded as (
    select
        *,
        {{ list_units_expr() }} as list_units,
        {{ charge_units_expr() }} as charge_units
    from trial_applied
),

charged as (
    -- steps 5 and 7 in pico-dollars (summed as integers, turned into USD once per day)
    select
        *,
        case
            when not is_billed then 0
            when not has_price then null
            when is_trial_covered then 0
            else greatest(charge_units, set_minimum_units)
        end as user_charge_units,
        case
            when not is_billed then 0
            when not has_price then null
            else greatest(list_units, set_minimum_units)
        end as list_charge_units,
        coalesce(is_billed and has_price and not is_trial_covered and charge_units < set_minimum_units, false)
            as is_minimum_charge
    from rounded
),

per_knob_set as (
    select
        knob_set,
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        sum(provider_cost_usd) as provider_cost_usd,
        cast({{ units_to_usd('sum(user_charge_units)') }} as decimal(38, 12)) as revenue_usd,
        cast({{ units_to_usd('sum(user_charge_units) - sum(provider_cost_units)') }} as decimal(38, 12)) as profit_usd,
        count(*) filter (where is_minimum_charge) as requests_at_minimum,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        cast({{ units_to_usd('sum(list_charge_units - user_charge_units)') }} as decimal(38, 12)) as trial_credit_usd
    from charged
    group by knob_set, date
),

final as (
    select
        policies.scenario,
        policies.scenario_order,
        policies.scenario_markup_percentage,
        policies.scenario_minimum_charge_usd,
        policies.scenario_free_trial_tokens,
        per_knob_set.* except (knob_set),
        cast(current_timestamp as timestamp) as updated_at,
        {{ knobs_fingerprint(fingerprint) }} as knobs_fingerprint
    from per_knob_set
    inner join policies using (knob_set)
)

select * from final
