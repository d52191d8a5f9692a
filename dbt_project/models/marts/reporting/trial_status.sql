-- One row: how many users are still inside their free trial, have used it up, or used no trial tokens.
with users as (
    select * from {{ ref('user_spending') }}
),

final as (
    select
        count(*) filter (where trial_tokens > 0 and not has_paid) as still_in_trial,
        count(*) filter (where trial_tokens > 0 and has_paid) as trial_used_up,
        count(*) filter (where trial_tokens = 0) as no_trial_used
    from users
)

select * from final
