-- How requests were priced, one row per pricing dimension and value: the service tier the provider reported, the
-- time-of-day window and the long-context tier of the catalog row that priced each request, and cache writes by
-- lifetime. Each dimension's rows add up to every request of ai_usage_analytics (read by the spending report).
with requests as (
    select * from {{ ref('ai_usage_analytics') }}
),

grouped as (
    -- one pass over the requests, grouped by what the labels are made of (a few thousand groups); the labels and
    -- the four dimensions are then taken over these groups
    select
        model,
        service_tier,
        price_window_start,
        price_window_end,
        price_window_timezone,
        price_input_tokens_above,
        case
            when cache_creation_1h_tokens > 0 then 'writes with a 1-hour lifetime'
            when cache_creation_tokens > 0 then '5-minute writes only'
            else 'no cache writes'
        end as cache_write_value,
        count(*) as requests,
        sum(total_tokens) as total_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd
    from requests
    group by all
),

labelled as (
    select
        *,
        service_tier as service_tier_value,
        case
            when price_window_start is null then 'all day'
            else left(cast(price_window_start as string), 5) || '-' || left(cast(price_window_end as string), 5) || ' '
                || price_window_timezone
        end as time_window_value,
        case
            when price_input_tokens_above is null then 'base'
            else 'input above ' || cast(price_input_tokens_above as string) || ' tokens'
        end as long_context_value
    from grouped
),

unpivoted as (
    select 1 as dimension_order, 'service_tier' as dimension, service_tier_value as value, * from labelled
    union all
    select 2 as dimension_order, 'time_window' as dimension, time_window_value as value, * from labelled
    union all
    select 3 as dimension_order, 'long_context_tier' as dimension, long_context_value as value, * from labelled
    union all
    select 4 as dimension_order, 'cache_write_lifetime' as dimension, cache_write_value as value, * from labelled
),

final as (
    select
        dimension_order,
        dimension,
        value,
        cast(sum(requests) as bigint) as requests,
        count(distinct model) as models,
        cast(sum(total_tokens) as bigint) as total_tokens,
        sum(provider_cost_usd) as provider_cost_usd,
        sum(user_charge_usd) as user_charge_usd
    from unpivoted
    group by all
    order by dimension_order, requests desc, value
)

select * from final
