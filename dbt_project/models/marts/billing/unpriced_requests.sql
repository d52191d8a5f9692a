-- Billed requests held back because their model has no catalog price on their day. Add the model to
-- dbt_project/seeds/model_prices.csv and rebuild: they are then priced (and the trial order recomputed).
with requests as (
    -- the priced requests' table (every request, with its price or none): these rows have no charge
    select * from {{ ref('int_requests_priced') }}
),

final as (
    select
        request_id,
        user_id,
        model,
        provider,
        created_at,
        status_code,
        input_tokens,
        output_tokens,
        total_tokens,
        source,
        source_line
    from requests
    where {{ is_held_back() }}
)

select * from final
