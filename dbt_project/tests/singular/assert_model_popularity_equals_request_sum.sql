-- model_popularity (summed from the rollup int_model_usage_daily) is the exact sum of ai_usage_analytics per model:
-- no model missing, none left over (e.g. a model whose requests are all held back after a catalog change).
-- Body: macros/request_sums.sql.
{{ config(meta={'dagster': {'ref': {'name': 'model_popularity'}}}) }}
{{ mart_equals_request_sums(
    'model_popularity',
    {'model': 'model'},
    ['requests', 'users', 'total_tokens', 'provider_cost_usd', 'user_charge_usd', 'markup_usd'],
    scoped=false,
    few_groups=true
) }}
