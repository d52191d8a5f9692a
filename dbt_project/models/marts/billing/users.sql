with users as (
    select * from {{ ref('stg_raw__users') }}
),

final as (
    select
        user_id as id,
        email,
        created_at,
        plan
    from users
)

select * from final
