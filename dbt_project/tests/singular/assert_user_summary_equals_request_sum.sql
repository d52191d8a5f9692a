-- user_ai_usage_summary is the exact sum of ai_usage_analytics per user and day, for the groups the last run wrote
-- (macros/test_scope.sql: every group on a full build, the day's groups on a daily run). Body: macros/request_sums.sql.
{{ config(meta={'dagster': {'ref': {'name': 'user_ai_usage_summary'}}}) }}
{{ mart_equals_request_sums(
    'user_ai_usage_summary',
    {'user_id': 'user_id', 'date': reporting_date('created_at')},
    ['requests', 'user_charge_usd', 'total_tokens', 'trial_tokens', 'provider_cost_usd', 'markup_usd', 'trial_credit_usd']
) }}
