-- Step 4 of pricing-rules.md: the free trial. A user's billed, priced requests in (created_at, request_id) order
-- use up free_trial_tokens; `trial_tokens_before` is what the user's earlier billed requests used in all.
-- Failed requests and held-back (unpriced) requests use no trial tokens.
with requests as (
    select * from {{ ref('int_requests_priced') }}
),

running_totals as (
    select
        request_id,
        cast(coalesce(
            sum(total_tokens) over (
                partition by user_id
                order by created_at, request_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as bigint) as trial_tokens_before
    from requests
    where is_billed and has_price
),

trial as (
    select
        requests.*,
        coalesce(running_totals.trial_tokens_before, 0) as trial_tokens_before,
        case
            when requests.is_billed and requests.has_price
                then least(
                    requests.total_tokens,
                    greatest(0, {{ free_trial_tokens() }} - coalesce(running_totals.trial_tokens_before, 0))
                )
            else 0
        end::bigint as trial_tokens
    from requests
    left join running_totals using (request_id)
),

final as (
    select
        *,
        cast(case when is_billed and has_price then total_tokens - trial_tokens else 0 end as bigint) as chargeable_tokens,
        is_billed and has_price
            and trial_tokens_before < {{ free_trial_tokens() }}
            and total_tokens - trial_tokens = 0 as is_trial_covered
    from trial
)

select * from final
