-- Every pricing policy applied to every request, summed per policy and day (reporting_timezone): the current
-- pricing (policy `(current pricing)`, order 0: the vars; no scenario name can take it) and each what-if scenario of
-- `pricing_scenarios` (order 1..n). Policies are rows: each is priced by int_requests_policy_charged (one row per
-- request and distinct set of knobs, the view the current charge is taken from too); policies with the same knobs
-- share a set. pricing_scenario_comparison sums the days to months. A full build reads the current set (knob_set 0)
-- from int_requests_charged, which holds its rows already priced, and the view prices the other sets alone (speed:
-- a quarter less pricing); the counts and cost every set shares are summed once, with the current set.
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
        delete_bound='date',
        on_schema_change='sync_all_columns',
        pre_hook=[
            "{{ drop_rows_of_other_knobs(knobs_fingerprint({'policies': pricing_policies(), 'reporting_timezone': reporting_timezone()})) }}",
            "{{ delete_emptied_groups('int_requests_trial_applied', " ~ group_keys ~ ", where=is_kept_for_billing(), fingerprint=knobs_fingerprint({'policies': pricing_policies(), 'reporting_timezone': reporting_timezone()}), date_key='date') }}",
        ],
    )
}}
{%- set policy_sets = policy_knob_sets(policies)['policy_sets'] %}

-- depends_on: {{ ref('int_requests_trial_applied') }} (the requests re-priced since the last run: macros/incremental.sql)
with requests {{ cte_inlined() }} (
    -- the requests ai_usage_analytics holds (priced, or not billed), under every set of knobs. A full build reads the
    -- current set (knob_set 0) as int_requests_charged stores it (its rows of the view, priced once already) and
    -- prices the others; an incremental run (a few days, whose rows the stored table does not let DuckDB skip by
    -- created_at) prices every set of those days in the view
    {%- if not is_incremental() %}
    select
        0 as knob_set, created_at, priced_at as updated_at, is_billed, provider_cost_usd, user_charge_usd,
        markup_usd, trial_credit_usd, is_minimum_charge, trial_tokens,
        cast(null as {{ int128() }}) as user_charge_units, cast(null as {{ int128() }}) as list_charge_units
    from {{ ref('int_requests_charged') }}
    where {{ is_kept_for_billing() }}
    union all
    {%- endif %}
    select
        knob_set, created_at, priced_at as updated_at, is_billed,
        case when knob_set = 0 then provider_cost_usd end as provider_cost_usd,
        cast(null as decimal(38, 12)) as user_charge_usd, cast(null as decimal(38, 12)) as markup_usd,
        cast(null as decimal(38, 12)) as trial_credit_usd, is_minimum_charge, trial_tokens, user_charge_units,
        list_charge_units
    from {{ ref('int_requests_policy_charged') }}
    where {{ 'knob_set > 0 and ' if not is_incremental() }}({{ is_kept_for_billing() }})
),

{#- a day of UTC (the default reporting_timezone) is a UTC day: an increment reads from the earliest changed row's day
    on, not two days before -#}
{{ rows_of_changed_groups('requests', group_keys, knobs_fingerprint(fingerprint), utc_days=(reporting_timezone() == 'UTC')) }}

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

per_set as (
    -- one pass over the rows: sums of the USD decimals int_requests_charged stores (the current set, full build) or
    -- of integer pico-dollars (the view's rows), turned into USD once per day below; the cost of the current set's
    -- rows alone (every set's)
    select
        knob_set,
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as revenue_usd,
        sum(markup_usd) as profit_usd,
        count(*) filter (where is_minimum_charge) as requests_at_minimum,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        sum(trial_credit_usd) as trial_credit_usd,
        sum(user_charge_units) as revenue_units,
        sum(list_charge_units) as list_charge_units
    from to_sum
    group by 1, 2
),

per_day as (
    -- the current set: its counts and cost are every set's
    select * from per_set where knob_set = 0
),

per_knob_set as (
    -- USD sums as they are (the current set from int_requests_charged), or from integer pico-dollars, once per day
    select
        per_set.knob_set, per_set.date, per_day.requests, per_day.billed_requests, per_day.provider_cost_usd,
        cast(coalesce(per_set.revenue_usd, {{ units_to_usd('per_set.revenue_units') }}) as decimal(38, 12))
            as revenue_usd,
        -- profit = revenue - cost, both exact at 12 places
        cast(coalesce(per_set.profit_usd, {{ units_to_usd('per_set.revenue_units') }} - per_day.provider_cost_usd)
            as decimal(38, 12)) as profit_usd,
        per_set.requests_at_minimum,
        per_set.trial_tokens,
        cast(coalesce(per_set.trial_credit_usd, {{ units_to_usd('per_set.list_charge_units - per_set.revenue_units') }})
            as decimal(38, 12)) as trial_credit_usd
    from per_set
    inner join per_day using (date)
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
