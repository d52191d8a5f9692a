with source as (
    select * from {{ source('raw', 'quarantine') }}
),

renamed as (
    select
        load_id,
        source,
        line_number,
        reason,
        field,
        detail,
        request_id,
        quarantined_at
    from source
)

select * from renamed
