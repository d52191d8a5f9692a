-- Per user, the end of the free trial: the first billed request the trial no longer fully pays after the user had
-- trial tokens (the first with chargeable tokens, or a 0-token request charged the minimum after the trial), with
-- the trial tokens the user used up to and including it and the month's spend up to it; none (request_id empty)
-- while the trial lasts. One row per user with a request. billing_alerts lists the ends.
-- Incremental by user: a user with a request priced since the last run (priced_at, in int_requests_charged) is
-- computed again over all of the user's requests, unless the stored end comes before the earliest of those requests
-- (a trial's end depends on the requests before it alone: int_requests_trial_applied re-prices a user from that
-- request on, and leaves the earlier ones as they were).
{{
    config(
        materialized=incremental_materialization(),
        unique_key='user_id',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
    )
}}

with charged {{ cte_inlined() }} (
    select *, cast(date_trunc('month', created_at) as date) as month_start_date
    from {{ ref('int_requests_charged') }}
),

users as (
    {%- if is_incremental() %}
    -- the users with a re-priced request whose stored end (if any) does not come before the earliest of them
    select restart.user_id
    from (
        select user_id, min(created_at) as reprice_from
        from charged
        where priced_at > {{ watermark('updated_at', '') }}
        group by user_id
    ) as restart
    left join {{ this }} as kept using (user_id)
    where kept.created_at is null or kept.created_at >= restart.reprice_from
    {%- else %}
    select distinct user_id from charged
    {%- endif %}
),

billed as (
    select charged.*
    from charged
    semi join users using (user_id)
    where charged.is_billed and charged.has_price
),

first_trial as (
    -- each user's first billed request with trial tokens (in the user's order: created_at, request_id)
    select user_id, min_by(request_id, {{ sort_key(['created_at', 'request_id']) }}) as request_id, min(created_at) as created_at
    from billed
    where trial_tokens > 0
    group by user_id
),

trial_end_requests as (
    -- the trial ends with the first billed request, from the first with trial tokens on, that it does not cover
    select billed.user_id, min_by(billed.request_id, {{ sort_key(['billed.created_at', 'billed.request_id']) }}) as request_id
    from billed
    inner join first_trial
        on billed.user_id = first_trial.user_id
        and (billed.created_at > first_trial.created_at
             or (billed.created_at = first_trial.created_at and billed.request_id >= first_trial.request_id))
    where not billed.is_trial_covered
    group by billed.user_id
),

ended as (
    select billed.* from billed semi join trial_end_requests using (user_id, request_id)
),

trial_end_usage as (
    -- the trial tokens the user used up to and including that request, and the month's spend up to it
    select
        ended.request_id,
        cast(sum(billed.trial_tokens) as bigint) as lifetime_trial_tokens,
        sum(billed.user_charge_usd) filter (where billed.month_start_date = ended.month_start_date) as month_spend_usd
    from ended
    inner join billed
        on billed.user_id = ended.user_id
        and (billed.created_at < ended.created_at
             or (billed.created_at = ended.created_at and billed.request_id <= ended.request_id))
    group by ended.request_id
),

final as (
    select
        users.user_id,
        ended.month_start_date,
        cast(trial_end_usage.lifetime_trial_tokens as bigint) as used_tokens,
        cast(trial_end_usage.month_spend_usd as decimal(38, 12)) as used_spend_usd,
        ended.request_id,
        ended.created_at,
        cast(current_timestamp as timestamp) as updated_at
    from users
    left join ended using (user_id)
    left join trial_end_usage using (request_id)
)

select * from final
