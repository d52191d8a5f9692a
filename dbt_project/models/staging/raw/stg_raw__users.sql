with source as (
    select * from {{ source('raw', 'users') }}
),

renamed as (
    select
        id as user_id,
        email,
        created_at,
        plan
    from source
)

select * from renamed
