-- Step 4 of pricing-rules.md: the free trial. A user's billed, priced requests in (created_at, request_id) order
-- use up the user's allowance; `trial_tokens_before` is what the user's earlier billed requests used in all.
-- Failed requests and held-back (unpriced) requests use no trial tokens.
-- The allowance is free_trial_tokens for an eligible user, else 0: with `trial_start_date` set, only users whose
-- users.created_at is on or after that UTC day are eligible (a user missing from the users export is not);
-- unset, every user is.
with requests as (
    select * from {{ ref('int_requests_priced') }}
),

users as (
    select * from {{ ref('stg_raw__users') }}
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

eligibility as (
    select
        requests.request_id,
        {%- set start_date = trial_start_date() %}
        {%- if start_date is none %}
        true as is_trial_eligible
        {%- else %}
        coalesce(users.created_at >= cast('{{ start_date }}' as date), false) as is_trial_eligible
        {%- endif %}
    from requests
    left join users using (user_id)
),

trial as (
    select
        requests.*,
        eligibility.is_trial_eligible,
        coalesce(running_totals.trial_tokens_before, 0) as trial_tokens_before
    from requests
    inner join eligibility using (request_id)
    left join running_totals using (request_id)
),

trial_tokens as (
    select
        *,
        {{ trial_tokens_expr(free_trial_tokens()) }} as trial_tokens
    from trial
),

final as (
    select
        *,
        {{ chargeable_tokens_expr() }} as chargeable_tokens,
        {{ is_trial_covered_expr(free_trial_tokens()) }} as is_trial_covered
    from trial_tokens
)

select * from final
