-- Every aggregate in the marts is the exact sum of the per-request values (pricing-rules.md): here per day, for the
-- days the last run wrote (macros/test_scope.sql: every day on a full build). Body: macros/request_sums.sql.
{{ config(meta={'dagster': {'ref': {'name': 'ai_revenue_analytics'}}}) }}
{{ mart_equals_request_sums(
    'ai_revenue_analytics',
    {'date': reporting_date('created_at')},
    ['requests', 'provider_cost_usd', ('revenue_usd', 'user_charge_usd'), ('profit_usd', 'markup_usd'), 'trial_credit_usd']
) }}
