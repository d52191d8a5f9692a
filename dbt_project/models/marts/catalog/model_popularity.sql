-- Most requests first, so that `select * from model_popularity limit 10` gives the ten most used models.
-- Sums the per model, user and day rollup (int_model_usage_daily), not every request.
with usage as (
    select * from {{ ref('int_model_usage_daily') }}
),

catalog as (
    -- the newest catalog row of each model names it (a model has a row per price period)
    select model, display_name, tier
    from {{ ref('model_catalog') }}
    qualify row_number() over (partition by model order by valid_from desc) = 1
),

per_model as (
    select
        model,
        provider,
        cast(sum(requests) as bigint) as requests,
        count(distinct user_id) as users,
        cast(sum(total_tokens) as bigint) as total_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd,
        sum(markup_usd) as markup_usd
    from usage
    group by all
),

final as (
    select
        cast(row_number() over (order by per_model.requests desc, per_model.model) as bigint) as popularity_rank,
        per_model.model,
        per_model.provider,
        catalog.display_name,
        catalog.tier,
        per_model.requests,
        per_model.users,
        per_model.total_tokens,
        per_model.provider_cost_usd,
        per_model.user_charge_usd,
        per_model.markup_usd
    from per_model
    left join catalog using (model)
    order by popularity_rank
)

select * from final
