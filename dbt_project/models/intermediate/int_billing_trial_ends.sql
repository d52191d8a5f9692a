-- Per user, the end of the free trial: the first billed request the trial no longer fully pays after the user had
-- trial tokens (the first with chargeable tokens, or a 0-token request charged the minimum after the trial), with
-- the trial tokens the user used up to and including it and the month's spend up to it; none (request_id empty)
-- while the trial lasts. One row per user with a request. billing_alerts lists the ends.
-- While the trial lasts, the row keeps what the next run goes on from: the trial tokens of the user's billed, priced
-- requests so far (trial_tokens_so_far), the last of them (last_billed_at) and the spend of its month
-- (month_spend_so_far); empty once the trial has ended.
-- Incremental by user: a user with a request priced since the last run (priced_at, in int_requests_charged) is
-- computed again, unless the stored end comes before the earliest of those requests (a trial's end depends on the
-- requests before it alone: int_requests_trial_applied re-prices a user from that request on, and leaves the earlier
-- ones as they were). When the stored row has no end and its last billed request comes before that request (a new
-- day), the user's requests from it on are read alone, going on from the stored totals; otherwise (a late request,
-- a stored end at or after it) all of the user's requests.
{{
    config(
        materialized=incremental_materialization(),
        unique_key='user_id',
        incremental_strategy='delete+insert',
        on_schema_change='sync_all_columns',
    )
}}

{%- set goes_on_from = none %}
{%- set recompute_any = true %}
{%- if is_incremental() %}
    {%- if execute and model.resource_type != 'unit_test' %}
        {#- read once when the model compiles: whether any user is computed again from all of their requests, and
            where the reading of the users that go on starts (a literal: DuckDB skips the older row groups) -#}
        {%- set query -%}
            select count(*) filter (where not goes_on),
                   cast(coalesce(min(reprice_from) filter (where goes_on), cast('9999-12-31' as timestamp)) as string)
            from ({{ trial_end_restarts() }}) as restarts
        {%- endset -%}
        {%- set row = run_query(query).rows[0] %}
        {%- set recompute_any = row[0] > 0 %}
        {%- set goes_on_from = row[1] %}
    {%- endif %}
{%- endif %}

with charged {{ cte_inlined() }} (
    select *, cast(date_trunc('month', created_at) as date) as month_start_date
    from {{ ref('int_requests_charged') }}
),

{%- if is_incremental() %}

restarts as (
    -- the users with a re-priced request whose stored end (if any) does not come before the earliest of them
    {{ trial_end_restarts() }}
),

users as (
    -- computed again from all of their requests
    select user_id from restarts where not goes_on
),

going_on as (
    -- no end stored, and every billed request before the re-priced ones in the stored totals: from them on alone
    select * from restarts where goes_on
),

new_billed as (
    select charged.*, going_on.trial_tokens_so_far as tokens_before
    from charged
    inner join going_on on charged.user_id = going_on.user_id and charged.created_at >= going_on.reprice_from
    where charged.is_billed and charged.has_price
        and charged.created_at >= {% if goes_on_from is not none %}cast('{{ goes_on_from }}' as timestamp){% else %}(
            select min(reprice_from) from going_on){% endif %}
),

new_running as (
    -- the trial tokens up to and including each request (the stored ones first), in the user's order
    select new_billed.*,
        tokens_before + sum(trial_tokens) over (
            partition by user_id order by created_at, request_id rows between unbounded preceding and current row
        ) as trial_tokens_to_here
    from new_billed
),

new_end_requests as (
    -- the first billed request the trial does not cover, once the user has had trial tokens (up to and including it)
    select user_id, min_by(request_id, {{ sort_key(['created_at', 'request_id']) }}) as request_id
    from new_running
    where not is_trial_covered and trial_tokens_to_here > 0
    group by user_id
),

new_ended as (
    -- the end, with the trial tokens up to it and the month's spend up to it (the stored month's spend first)
    select
        ended.user_id, ended.month_start_date, ended.created_at, ended.request_id,
        any_value(ended.trial_tokens_to_here) as used_tokens,
        any_value(case when cast(date_trunc('month', going_on.last_billed_at) as date) = ended.month_start_date
                       then going_on.month_spend_so_far else 0 end)
            + sum(new_billed.user_charge_usd) as used_spend_usd
    from new_running as ended
    semi join new_end_requests using (user_id, request_id)
    inner join going_on using (user_id)
    inner join new_billed
        on new_billed.user_id = ended.user_id and new_billed.month_start_date = ended.month_start_date
        and (new_billed.created_at < ended.created_at
             or (new_billed.created_at = ended.created_at and new_billed.request_id <= ended.request_id))
    group by ended.user_id, ended.month_start_date, ended.created_at, ended.request_id
),

new_months as (
    -- per user still in the trial: the new requests' trial tokens, last request and spend per month
    select user_id, month_start_date, sum(trial_tokens) as trial_tokens, max(created_at) as last_billed_at,
           sum(user_charge_usd) as spend_usd
    from new_billed
    anti join new_end_requests using (user_id)
    group by user_id, month_start_date
),

new_so_far as (
    select
        going_on.user_id,
        going_on.trial_tokens_so_far + coalesce(sum(new_months.trial_tokens), 0) as trial_tokens_so_far,
        coalesce(max(new_months.last_billed_at), any_value(going_on.last_billed_at)) as last_billed_at,
        -- the spend of the last request's month: the new requests' of that month, after the stored month's if the same
        coalesce(max_by(new_months.spend_usd, new_months.month_start_date), 0)
            + case when max(new_months.month_start_date) is null
                     or max(new_months.month_start_date) = cast(date_trunc('month', any_value(going_on.last_billed_at)) as date)
                   then any_value(going_on.month_spend_so_far) else 0 end as month_spend_so_far
    from going_on
    left join new_months using (user_id)
    anti join new_end_requests using (user_id)
    group by going_on.user_id, going_on.trial_tokens_so_far
),

continued as (
    select
        going_on.user_id,
        new_ended.month_start_date,
        cast(new_ended.used_tokens as bigint) as used_tokens,
        cast(new_ended.used_spend_usd as decimal(38, 12)) as used_spend_usd,
        new_ended.request_id,
        new_ended.created_at,
        cast(new_so_far.trial_tokens_so_far as bigint) as trial_tokens_so_far,
        new_so_far.last_billed_at,
        cast(new_so_far.month_spend_so_far as decimal(38, 12)) as month_spend_so_far
    from going_on
    left join new_ended using (user_id)
    left join new_so_far using (user_id)
),

{%- else %}

users as (
    select distinct user_id from charged
),

{%- endif %}

billed as (
    select charged.*
    from charged
    semi join users using (user_id)
    where charged.is_billed and charged.has_price
    {%- if not recompute_any %}
        and false  -- (no user is computed again from all of their requests)
    {%- endif %}
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

so_far_months as (
    -- per user still in the trial and month: the trial tokens, the last billed request and the spend
    select user_id, month_start_date, sum(trial_tokens) as trial_tokens, max(created_at) as last_billed_at,
           sum(user_charge_usd) as spend_usd
    from billed
    anti join trial_end_requests using (user_id)
    group by user_id, month_start_date
),

so_far as (
    select user_id, sum(trial_tokens) as trial_tokens_so_far, max(last_billed_at) as last_billed_at,
           max_by(spend_usd, month_start_date) as month_spend_so_far
    from so_far_months
    group by user_id
),

final as (
    select
        users.user_id,
        ended.month_start_date,
        cast(trial_end_usage.lifetime_trial_tokens as bigint) as used_tokens,
        cast(trial_end_usage.month_spend_usd as decimal(38, 12)) as used_spend_usd,
        ended.request_id,
        ended.created_at,
        -- while the trial lasts (no end): what the next run goes on from
        cast(case when ended.request_id is null then coalesce(so_far.trial_tokens_so_far, 0) end as bigint)
            as trial_tokens_so_far,
        so_far.last_billed_at,
        cast(case when ended.request_id is null then coalesce(so_far.month_spend_so_far, 0) end as decimal(38, 12))
            as month_spend_so_far
    from users
    left join ended using (user_id)
    left join trial_end_usage using (request_id)
    left join so_far using (user_id)
    {%- if is_incremental() %}
    union all
    select * from continued
    {%- endif %}
)

select
    user_id, month_start_date, used_tokens, used_spend_usd, request_id, created_at,
    cast(current_timestamp as timestamp) as updated_at,
    trial_tokens_so_far, last_billed_at, month_spend_so_far
from final
