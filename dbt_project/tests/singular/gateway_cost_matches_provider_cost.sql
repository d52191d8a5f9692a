-- Reconciliation: per model and UTC day, the gateway's own cost (its total_cost, the API's `cost`) against our
-- provider cost for the same requests (those with a gateway cost). Warns (a Dagster check on ai_usage_analytics)
-- for each model-day that differs by more than the var cost_drift_tolerance (0.05 = 5%) of ours.
-- Every compared model-day is a row (`drifts` says which differ: fail_calc counts those), so the stored rows,
-- dbt_test__audit.gateway_cost_matches_provider_cost, show what was compared.
{{ config(severity='warn', store_failures=true, fail_calc='count(*) filter (where drifts)',
          meta={'dagster': {'ref': {'name': 'ai_usage_analytics'}}}) }}
with charged as (
    select * from {{ ref('ai_usage_analytics') }}
),

requests as (
    select * from {{ ref('stg_raw__gateway_requests') }}
    where gateway_cost_usd is not null
),

compared as (
    select
        charged.model,
        cast(charged.created_at as date) as day,
        count(*) as requests,
        sum(requests.gateway_cost_usd) as gateway_cost_usd,
        sum(charged.provider_cost_usd) as provider_cost_usd
    from charged
    inner join requests using (request_id)
    group by all
),

final as (
    select
        *,
        gateway_cost_usd - provider_cost_usd as difference_usd,
        abs(gateway_cost_usd - provider_cost_usd)
            > cast('{{ cost_drift_tolerance() }}' as decimal(38, 12)) * provider_cost_usd as drifts
    from compared
)

select * from final
