with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

final as (
    select
        user_id,
        {{ reporting_date('created_at') }} as date,
        count(*) as requests,
        count(*) filter (where is_billed) as billed_requests,
        cast(sum(input_tokens) as bigint) as input_tokens,
        cast(sum(output_tokens) as bigint) as output_tokens,
        cast(sum(total_tokens) as bigint) as total_tokens,
        cast(sum(trial_tokens) as bigint) as trial_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd,
        sum(markup_usd) as markup_usd,
        sum(trial_credit_usd) as trial_credit_usd
    from requests
    group by all
    order by date, user_id
)

select * from final
