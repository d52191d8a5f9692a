-- What-if pricing: all of history re-priced under each scenario of the `pricing_scenarios` var, per month (in
-- reporting_timezone), beside the current pricing (the marts finance reads). The scenarios use the same pricing
-- macros as the real pricing (macros/pricing.sql); only the knobs differ. A knob a scenario leaves out keeps its
-- current value; every scenario keeps the current trial_start_date.
{%- set policies = scenario_pricing_policies() %}
with requests as (
    select * from {{ ref('int_requests_trial_applied') }}
    where has_price or not is_billed
),

current_pricing as (
    select * from {{ ref('int_requests_charged') }}
    where has_price or not is_billed
),

scenarios as (
    {%- for policy in policies %}
    select
        '{{ policy["name"] }}' as scenario,
        {{ loop.index }} as scenario_order,
        cast('{{ policy["markup_percentage"] }}' as decimal(9, 4)) as scenario_markup_percentage,
        {{ minimum_charge_usd(policy['minimum_charge_usd'], 'pricing_scenarios.' ~ policy['name']) }}
            as scenario_minimum_charge_usd,
        cast({{ policy['free_trial_tokens'] }} as bigint) as scenario_free_trial_tokens
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not policies %}
    select
        cast(null as varchar) as scenario,
        cast(null as integer) as scenario_order,
        cast(null as decimal(9, 4)) as scenario_markup_percentage,
        cast(null as decimal(38, 12)) as scenario_minimum_charge_usd,
        cast(null as bigint) as scenario_free_trial_tokens
    where false
    {%- endif %}
),

scenario_requests as (
    select
        requests.* exclude (trial_tokens, chargeable_tokens, is_trial_covered),
        scenarios.*,
        {%- if policies %}
        case scenarios.scenario
            {%- for policy in policies %}
            when '{{ policy["name"] }}' then {{ markup_factor_expr(policy, 'requests.provider', 'requests.model') }}
            {%- endfor %}
        end
        {%- else %}
        cast(null as integer)
        {%- endif %} as markup_factor_units
    from requests
    cross join scenarios
),

trial_tokens as (
    select
        *,
        {{ trial_tokens_expr('scenario_free_trial_tokens') }} as trial_tokens
    from scenario_requests
),

trial_applied as (
    select
        *,
        {{ chargeable_tokens_expr() }} as chargeable_tokens,
        {{ is_trial_covered_expr('scenario_free_trial_tokens') }} as is_trial_covered,
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
    select
        *,
        {{ user_charge_usd_expr('scenario_minimum_charge_usd') }} as user_charge_usd,
        {{ list_charge_usd_expr('scenario_minimum_charge_usd') }} as list_charge_usd,
        {{ hits_minimum_charge_expr('scenario_minimum_charge_usd') }} as is_minimum_charge
    from rounded
),

scenario_months as (
    select
        scenario,
        scenario_order,
        scenario_markup_percentage,
        scenario_minimum_charge_usd,
        scenario_free_trial_tokens,
        cast(date_trunc('month', {{ reporting_date('created_at') }}) as date) as month,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as revenue_usd,
        cast(sum(user_charge_usd - provider_cost_usd) as decimal(38, 12)) as profit_usd,
        count(*) filter (where is_minimum_charge) as requests_at_minimum,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        cast(sum(list_charge_usd - user_charge_usd) as decimal(38, 12)) as trial_credit_usd
    from charged
    group by all
),

current_months as (
    select
        cast(date_trunc('month', {{ reporting_date('created_at') }}) as date) as month,
        sum(user_charge_usd) as current_revenue_usd,
        sum(markup_usd) as current_profit_usd,
        count(*) filter (where is_minimum_charge) as current_requests_at_minimum,
        sum(trial_credit_usd) as current_trial_credit_usd
    from current_pricing
    group by all
),

margins as (
    select
        scenario_months.*,
        case
            when revenue_usd > 0 then cast(
                cast({{ divide_half_even_signed(
                    usd_to_units('profit_usd') ~ ' * 1000000', usd_to_units('revenue_usd')) }} as decimal(38, 0))
                * cast(0.0001 as decimal(38, 4))
                as decimal(18, 4))
        end as margin_percentage
    from scenario_months
),

final as (
    select
        margins.scenario,
        margins.scenario_order,
        margins.scenario_markup_percentage as markup_percentage,
        margins.scenario_minimum_charge_usd as minimum_charge_usd,
        margins.scenario_free_trial_tokens as free_trial_tokens,
        margins.month,
        margins.requests,
        margins.billed_requests,
        margins.provider_cost_usd,
        margins.revenue_usd,
        margins.profit_usd,
        margins.margin_percentage,
        margins.requests_at_minimum,
        margins.trial_tokens,
        margins.trial_credit_usd,
        current_months.current_revenue_usd,
        current_months.current_profit_usd,
        cast(margins.revenue_usd - current_months.current_revenue_usd as decimal(38, 12)) as revenue_diff_usd,
        cast(margins.profit_usd - current_months.current_profit_usd as decimal(38, 12)) as profit_diff_usd,
        cast(margins.requests_at_minimum - current_months.current_requests_at_minimum as bigint)
            as requests_at_minimum_diff,
        cast(margins.trial_credit_usd - current_months.current_trial_credit_usd as decimal(38, 12))
            as trial_credit_diff_usd
    from margins
    left join current_months using (month)
    order by margins.scenario_order, margins.month
)

select * from final
