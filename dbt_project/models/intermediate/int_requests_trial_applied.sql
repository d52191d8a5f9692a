-- Step 4 of pricing-rules.md: the free trial. A user's billed, priced requests in (created_at, request_id) order
-- use up the user's allowance; `trial_tokens_before` is what the user's earlier billed requests used in all.
-- Failed requests and held-back (unpriced) requests use no trial tokens.
-- The allowance is free_trial_tokens for an eligible user, else 0: with `trial_start_date` set, only users whose
-- users.created_at is on or after that UTC day are eligible (a user missing from the users export is not);
-- unset, every user is.
-- Steps 5 to 7 for the current pricing follow in the same pass (policy_charged_ctes in macros/pricing.sql, the one
-- pricing path that int_requests_policy_charged runs for every policy): each request's charges are stored here,
-- once; int_requests_charged is a view of them.
--
-- Incremental, by UTC day (see macros/incremental.sql). The trial follows each user's lifetime order across days,
-- so a run re-prices, for every user with a changed request (new, late, in the re-materialized days, or held
-- back and now priced), all of that user's requests from the earliest change on, starting from the tokens the
-- user's earlier requests used. On a normal day that is just the day's requests. A change of the pricing knobs, the
-- catalog or (with trial_start_date set) the users export re-prices everything.
{{
    config(
        materialized=incremental_materialization(),
        unique_key='request_id',
        incremental_strategy='delete+insert',
        delete_bound='created_at',
        on_schema_change='sync_all_columns',
        tags=['daily'],
        meta={'uncompressed_columns': ['request_id']},
        pre_hook="{{ drop_rows_of_other_knobs(trial_fingerprint_sql()) }}",
    )
}}
{%- set start_date = trial_start_date() %}

with requests {{ cte_inlined() }} (
    -- narrow: what the trial, the charges (int_requests_charged) and the increments need; ai_usage_analytics takes
    -- the request's other columns from int_requests_priced once, by request_id (the window below sorts these
    -- columns alone, and this table stores them and the charges alone)
    select
        request_id,
        user_id,
        model,
        provider,
        created_at,
        is_billed,
        has_price,
        total_tokens,
        provider_cost_usd,
        costed_at
    from {{ ref('int_requests_priced') }}
),

users as (
    select * from {{ ref('stg_raw__users') }}
),

fingerprint as (
    {{ trial_fingerprint_sql() | indent(4) }} as value
),

{{ trial_restart_ctes('requests') }}

trial as (
    -- the running sum in one window over the rows being priced (failed and held-back rows add nothing to it)
    select
        to_price.*,
        {%- if start_date is none %}
        true as is_trial_eligible,
        {%- else %}
        coalesce(users.created_at >= cast('{{ start_date }}' as date), false) as is_trial_eligible,
        {%- endif %}
        case
            when to_price.is_billed and to_price.has_price then cast(
                coalesce(tokens_before_restart.tokens, 0)
                + coalesce(
                    sum(case when to_price.is_billed and to_price.has_price then to_price.total_tokens end) over (
                        partition by to_price.user_id
                        order by to_price.created_at, to_price.request_id
                        rows between unbounded preceding and 1 preceding
                    ),
                    0
                )
                as bigint)
            else 0
        end as trial_tokens_before
    from to_price
    left join tokens_before_restart using (user_id)
    {%- if start_date is not none %}
    left join (select user_id, created_at from users) as users using (user_id)
    {%- endif %}
),

{{ policy_charged_ctes('trial', policy_knob_sets([pricing_policy()])) }}

final as (
    select
        * except ({{ policy_working_columns() }}),
        (select value from fingerprint) as knobs_fingerprint,
        cast(current_timestamp as timestamp) as priced_at
    from policy_charged
)

select * from final
