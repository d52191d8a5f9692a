-- Requests from users missing from the users export (raw.users): they are billed all the same, and the next export
-- should have them. One row per missing user; a warning (a Dagster check on stg_raw__gateway_requests), never a
-- stop. The rows stay in dbt_test__audit.users_in_the_users_export for a person to read.
{{ config(severity='warn', store_failures=true,
          meta={'dagster': {'ref': {'name': 'stg_raw__gateway_requests'}}}) }}
with requests as (
    select * from {{ ref('stg_raw__gateway_requests') }}
),

users as (
    select * from {{ ref('stg_raw__users') }}
),

final as (
    select
        requests.user_id,
        count(*) as requests,
        min(requests.created_at) as first_request_at
    from requests
    anti join users using (user_id)
    group by requests.user_id
)

select * from final
