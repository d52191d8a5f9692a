-- model_popularity (summed from the rollup int_model_usage_daily) is the exact sum of ai_usage_analytics per model:
-- no model missing, none left over (e.g. a model whose requests are all held back after a catalog change).
{{ config(meta={'dagster': {'ref': {'name': 'model_popularity'}}}) }}
with per_request as (
    select
        model,
        count(*) as requests,
        count(distinct user_id) as users,
        sum(total_tokens) as total_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd,
        sum(markup_usd) as markup_usd
    from {{ ref('ai_usage_analytics') }}
    group by all
),

popularity as (
    select * from {{ ref('model_popularity') }}
)

select *
from per_request
full outer join popularity using (model)
where per_request.requests is distinct from popularity.requests
    or per_request.users is distinct from popularity.users
    or per_request.total_tokens is distinct from popularity.total_tokens
    or per_request.provider_cost_usd is distinct from popularity.provider_cost_usd
    or per_request.user_charge_usd is distinct from popularity.user_charge_usd
    or per_request.markup_usd is distinct from popularity.markup_usd
