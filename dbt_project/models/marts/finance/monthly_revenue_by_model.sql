-- One row per month (UTC calendar month of created_at), provider and model: revenue, provider cost and profit.
-- The one place monthly revenue is computed: monthly_revenue rolls it up, the finance export copies it.
-- The running month (finance_as_of) is provisional: its figures still grow.
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

as_of as (
    select * from {{ ref('finance_as_of') }}
),

per_model as (
    select
        {{ year_month('created_at') }} as period_month,
        provider,
        model,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        cast(sum(total_tokens) as bigint) as total_tokens,
        cast(sum(provider_cost_usd) as decimal(38, 12)) as provider_cost_usd,
        cast(sum(user_charge_usd) as decimal(38, 12)) as revenue_usd,
        cast(sum(markup_usd) as decimal(38, 12)) as profit_usd,
        cast(sum(list_charge_usd - provider_cost_usd) as decimal(38, 12)) as markup_before_trial_usd,
        cast(sum(trial_credit_usd) as decimal(38, 12)) as trial_credit_usd
    from requests
    group by period_month, provider, model
),

final as (
    select
        per_model.period_month,
        cast(per_model.period_month || '-01' as date) as period_start_date,
        last_day(cast(per_model.period_month || '-01' as date)) as period_end_date,
        per_model.period_month >= as_of.running_month as is_provisional,
        per_model.provider,
        per_model.model,
        per_model.requests,
        per_model.billed_requests,
        per_model.total_tokens,
        per_model.provider_cost_usd,
        per_model.revenue_usd,
        per_model.profit_usd,
        per_model.markup_before_trial_usd,
        per_model.trial_credit_usd
    from per_model
    cross join as_of
)

select * from final
