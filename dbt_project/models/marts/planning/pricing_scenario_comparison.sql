-- What-if pricing: all of history re-priced under each scenario of the `pricing_scenarios` var, per month (in
-- reporting_timezone), beside the current pricing (the marts finance reads). Every policy, the current one and each
-- scenario, is a row priced by the same model (int_pricing_policy_daily, per policy and day, incremental): this
-- mart sums its days to months. A knob a scenario leaves out keeps its current value; every scenario keeps the
-- current trial_start_date.
with policy_days as (
    select * from {{ ref('int_pricing_policy_daily') }}
),

scenario_months as (
    select
        scenario,
        scenario_order,
        scenario_markup_percentage,
        scenario_minimum_charge_usd,
        scenario_free_trial_tokens,
        cast(date_trunc('month', date) as date) as month,
        cast(sum(requests) as bigint) as requests,
        cast(sum(billed_requests) as bigint) as billed_requests,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(revenue_usd) as revenue_usd,
        cast(sum(profit_usd) as decimal(38, 12)) as profit_usd,
        cast(sum(requests_at_minimum) as bigint) as requests_at_minimum,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        cast(sum(trial_credit_usd) as decimal(38, 12)) as trial_credit_usd
    from policy_days
    where scenario_order > 0
    group by all
),

current_months as (
    select
        cast(date_trunc('month', date) as date) as month,
        sum(revenue_usd) as current_revenue_usd,
        sum(profit_usd) as current_profit_usd,
        cast(sum(requests_at_minimum) as bigint) as current_requests_at_minimum,
        sum(trial_credit_usd) as current_trial_credit_usd
    from policy_days
    where scenario_order = 0
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
