-- Catalog quality gate: every period of a model (model, valid_from) has a base row (service tier `any`, no
-- long-context tier), and the time-of-day windows of each service tier and long-context tier cover the day once
-- (their lengths add up to 24 hours), so that every request of the period finds exactly one row.
{{ config(meta={'dagster': {'ref': {'name': 'model_catalog'}}}) }}
with catalog as (
    select * from {{ ref('model_catalog') }}
),

periods as (
    select model, valid_from, bool_or(service_tier = 'any' and input_tokens_above is null) as has_base
    from catalog
    group by all
),

windows as (
    select
        model,
        valid_from,
        service_tier,
        input_tokens_above,
        sum(case
            when window_start is null then 86400
            when window_end > window_start then {{ time_seconds('window_end') }} - {{ time_seconds('window_start') }}
            else 86400 - {{ time_seconds('window_start') }} + {{ time_seconds('window_end') }}
        end) as seconds_covered
    from catalog
    group by all
)

select model, valid_from, 'no base row (service tier any, no long-context tier)' as problem
from periods
where not has_base
union all
select model, valid_from, 'windows of ' || service_tier || ' cover ' || seconds_covered || ' s, not 86400' as problem
from windows
where seconds_covered <> 86400
