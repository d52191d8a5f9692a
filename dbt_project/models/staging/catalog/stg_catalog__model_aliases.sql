-- Names the logs use -> the catalog model that prices them, from valid_from on (null: always).
with source as (
    select * from {{ ref('model_aliases') }}
),

renamed as (
    select
        alias,
        model,
        cast(valid_from as date) as valid_from,
        note
    from source
)

select * from renamed
