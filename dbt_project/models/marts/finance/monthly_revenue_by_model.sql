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
        cast(date_trunc('month', created_at) as date) as period_start_date,
        provider,
        model,
        {{ request_sums(['requests', 'billed_requests', 'total_tokens', 'provider_cost_usd',
                         ('revenue_usd', 'user_charge_usd'), ('profit_usd', 'markup_usd'), 'trial_credit_usd'],
                        money_type='decimal(38, 12)') }},
        cast(sum(list_charge_usd - provider_cost_usd) as decimal(38, 12)) as markup_before_trial_usd
    from requests
    group by period_start_date, provider, model
),

final as (
    select
        {{ statement_period('per_model.period_start_date') }},
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
