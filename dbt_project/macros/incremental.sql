{#-
    Incremental building by UTC day. A run prices what is new (the watermarks below); Dagster passes no per-run
    vars (they would invalidate dbt's partial parse on every run). To re-price given days as well, pass the vars
    `partition_start` and `partition_end` (ISO timestamps, end exclusive) by hand on the dbt command line.
    Either way, a run also re-prices what changed since the last one (see int_requests_trial_applied), and
    `--full-refresh` rebuilds everything: all of these give identical marts (tests/dbt/test_incremental.py).
-#}

{#- A SQL condition: `column` lies in the partitions being materialized (false when none are given). The vars are
    checked by `partition_window()` (macros/vars.sql) before they reach SQL. -#}
{% macro in_partition_window(column) -%}
    {%- set window = partition_window() -%}
    {%- if window -%}
        ({{ column }} >= cast('{{ window[0] }}' as timestamp) and {{ column }} < cast('{{ window[1] }}' as timestamp))
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}

{#- The newest value of `column` in this incremental model (a watermark), or a time before any data.
    With `fingerprint` (the SQL of the model's knobs fingerprint, whose pre-hook drop_rows_of_other_knobs deletes the
    rows of other knobs before the model runs), the watermark is read once when the model is compiled, of the rows
    that keep their fingerprint, and written into the SQL as a literal: the scans compare a constant, which DuckDB
    pushes into them (a subquery stays a join above them, over every row, views included). `fingerprint=''`: a model
    with no such pre-hook. A unit test (whose `this` is a CTE) keeps the subquery. -#}
{% macro watermark(column, fingerprint=none) -%}
    {%- if fingerprint is not none and execute and is_incremental() and model.resource_type != 'unit_test' -%}
        {{- require_stored_columns([column] if fingerprint == "" else [column, 'knobs_fingerprint']) -}}
        {%- set kept = "" if fingerprint == "" else " where knobs_fingerprint = (" ~ fingerprint ~ ")" -%}
        {%- set value = run_query("select cast(coalesce(max(" ~ column ~ "), cast('1970-01-01' as timestamp)) as string) from "
                                  ~ this ~ kept).columns[0].values()[0] -%}
        cast('{{ value }}' as timestamp)
    {%- else -%}
        (select coalesce(max({{ column }}), cast('1970-01-01' as timestamp)) from {{ this }})
    {%- endif -%}
{%- endmacro %}

{#- Stops the run with what to do when this model's stored table lacks a column that the incremental run reads: the
    table was built by an older version of the project (an upgrade that changed the stored columns), and only a full
    refresh can rebuild it (dbt's own message would be a binder error naming the column). -#}
{% macro require_stored_columns(columns) -%}
    {%- set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- set missing = columns | reject('in', stored) | list -%}
    {%- if stored and missing -%}
        {{ exceptions.raise_compiler_error(
            this ~ " has no column " ~ missing | join(", ") ~ ": the warehouse was built by an older version of this"
            ~ " project. Rebuild it once from scratch (the raw data stays): cd dbt_project && ../.venv/bin/dbt build"
            ~ " --profiles-dir . --full-refresh, or run config ops: {warehouse_dbt_models: {config: {full_refresh:"
            ~ " true}}} in the Dagster UI (README, Incremental builds).") }}
    {%- endif -%}
{%- endmacro %}

{#- A fingerprint of the knobs a model's rows depend on: when it differs from the one stored in the rows, the
    incremental run re-prices everything (a changed var or catalog row re-prices all of history). -#}
{% macro knobs_fingerprint(knobs) -%}
    md5('{{ tojson(knobs) | replace("'", "''") }}')
{%- endmacro %}

{#- A pre-hook: drop the stored rows computed with another fingerprint, so that this run computes them again
    (they are then "new"). Nothing happens on the first run or on a full refresh. -#}
{% macro drop_rows_of_other_knobs(fingerprint_sql, column='knobs_fingerprint') -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ column }} is distinct from ({{ fingerprint_sql }})
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- What a request's price depends on besides the request: every column of every catalog row and alias (any
    catalog change changes the fingerprint). The catalog is small: a few thousand rows. -#}
{% macro catalog_fingerprint_sql() -%}
    select md5(
        coalesce((
            select {{ ordered_string_agg(row_as_text('prices'), "','", row_as_text('prices')) }}
            from {{ ref('stg_catalog__model_prices') }} as prices
        ), '')
        || coalesce((
            select {{ ordered_string_agg(row_as_text('aliases'), "','", row_as_text('aliases')) }}
            from {{ ref('stg_catalog__model_aliases') }} as aliases
        ), '')
    )
{%- endmacro %}

{#- What int_requests_trial_applied depends on besides the requests: the knobs of the trial and of the current
    pricing (it stores the charges too), the catalog (prices decide what is billed) and, when trial_start_date is
    set, the users' sign-up times. -#}
{% macro trial_fingerprint_sql() -%}
    {%- set start_date = trial_start_date() -%}
    select md5(
        {{ knobs_fingerprint({'pricing': pricing_policy(), 'trial_start_date': start_date}) }}
        || ({{ catalog_fingerprint_sql() }})
        {%- if start_date is not none %}
        || coalesce((
            select {{ ordered_string_agg("user_id || '@' || created_at", "','", 'user_id') }} from {{ ref('stg_raw__users') }}
        ), '')
        {%- endif %}
    )
{%- endmacro %}

{#- The requests re-priced since this model's last run, whatever their fate: int_requests_trial_applied holds every
    request (priced, failed or held back) and stamps `priced_at` whenever it prices one again. A request that leaves
    ai_usage_analytics (held back after a catalog change) is still here, so the groups it left are found too. -#}
{% macro repriced_requests_since_watermark(fingerprint=none) -%}
    select * from {{ ref('int_requests_trial_applied') }} where priced_at > {{ watermark('updated_at', fingerprint) }}
{%- endmacro %}

{#- For an incremental aggregate: CTEs `touched` and `to_sum`. `to_sum` holds the rows of `relation` (a CTE with
    created_at and updated_at) in every group (keys: {name: SQL expression}) that has a row updated since this
    model's last run, or a request re-priced since then (one that left `relation` included), so that those groups
    are summed again, whole; on a first run or full refresh, every row. A group left with no rows is deleted by the
    pre-hook `delete_emptied_groups` (an aggregate cannot emit "no row"). `utc_days`: every group lies within one UTC
    day (a key holds the UTC date of created_at), so the rows to read start at the UTC day of the earliest changed
    row, not two days before it (see earliest_changed_day). -#}
{% macro rows_of_changed_groups(relation, keys, fingerprint=none, source=none, utc_days=false) -%}
{%- set names = keys.keys() | list -%}
{%- set group_columns -%}{% for name in names %}_group_{{ name }}{{ ", " if not loop.last }}{% endfor %}{%- endset -%}
{% if is_incremental() %}
changed as (
    -- the rows written since this model's last run (a zonemap-pruned scan), and the re-priced requests
    select
        {%- for name, expr in keys.items() %}
        {{ expr }} as _group_{{ name }},
        {%- endfor %}
        created_at
    from {{ relation }}
    where updated_at > {{ watermark('updated_at', fingerprint) }}
    union all
    select
        {%- for name, expr in keys.items() %}
        {{ expr }} as _group_{{ name }},
        {%- endfor %}
        created_at
    from ({{ repriced_requests_since_watermark(fingerprint) }})
),

touched as (
    select distinct {{ group_columns }}
    from changed
),

to_sum as (
    select keyed.* except ({{ group_columns }})
    from (
        select
            *,
            {%- for name, expr in keys.items() %}
            {{ expr }} as _group_{{ name }}{{ "," if not loop.last }}
            {%- endfor %}
        from {{ relation }}
        -- a group's day starts at most two days before its earliest changed row (any time zone; a UTC day: on
        -- that row's day): only the rows of those days are read and keyed
        where created_at >= {{ earliest_changed_day(fingerprint, source, utc_days) }}
    ) as keyed
    semi join touched using ({{ group_columns }})
),
{% else %}
to_sum as (
    select * from {{ relation }}
),
{% endif %}
{%- endmacro %}

{#- A pre-hook for an incremental aggregate over the model `source_model`: delete the groups (keys as in
    rows_of_changed_groups) that a request re-priced since the last run belonged to and that now have no row in
    `source_model` (every request of the group held back after a catalog change). Without it such a group would
    keep its old sums for ever; a full refresh would not have it. `where` narrows `source_model` to the rows the
    aggregate sums (an intermediate aggregate reads int_requests_trial_applied, never a mart). `date_key`: the key
    holding the group's day (a date of created_at, in any time zone); with `fingerprint`, the delete then reads only
    the stored groups from the day of its two-day margin on (a group of a re-priced request is never older).
    When `source_model` is int_requests_trial_applied itself (narrowed by `where`), only a group with a re-priced
    request that `where` now leaves out can be empty: each row the group had was a request `where` kept, which can
    leave only by being priced again. A new day whose requests are all kept then deletes nothing and reads nothing
    more. -#}
{% macro delete_emptied_groups(source_model, keys, where=none, fingerprint=none, date_key=none) -%}
    {%- set literal = fingerprint is not none and execute and is_incremental() and model.resource_type != 'unit_test' -%}
    {%- set left_out = " and not coalesce((" ~ where ~ "), false)" if where and source_model == 'int_requests_trial_applied' else "" -%}
    {%- if literal -%}
        {#- read once: when no request was re-priced since the last run (or none left out), there is nothing to delete -#}
        {%- set since = watermark('updated_at', fingerprint) -%}
        {%- set first = run_query("select cast(min(created_at) - interval 2 day as string) from "
                                  ~ ref('int_requests_trial_applied') ~ " where priced_at > " ~ since ~ left_out).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if literal and first is none -%}
        select 1
    {%- elif is_incremental() -%}
    delete from {{ this }} as kept
    where {% if literal and date_key %}kept.{{ date_key }} >= cast(cast('{{ first }}' as timestamp) as date) and {% endif %}exists (
        select 1 from ({{ repriced_requests_since_watermark(fingerprint) }}{{ left_out }}) as repriced
        where true
        {%- for name, expr in keys.items() %}
            and {{ expr }} = kept.{{ name }}
        {%- endfor %}
    )
    and not exists (
        -- the rows left in those groups are no older than two days before the earliest re-priced request
        select 1 from (
            select * from {{ ref(source_model) }}
            where {% if where %}({{ where }}) and {% endif %}created_at >= {% if literal %}cast('{{ first }}' as timestamp){% else %}(
                select min(created_at) - interval 2 day from ({{ repriced_requests_since_watermark() }}{{ left_out }})
            ){% endif %}
        ) as remaining
        where true
        {%- for name, expr in keys.items() %}
            and {{ expr }} = kept.{{ name }}
        {%- endfor %}
    )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#- What the quota alerts depend on besides the charges: the thresholds, the plans' quotas and each user's plan. -#}
{% macro quota_fingerprint_sql() -%}
    select md5(
        {{ knobs_fingerprint({'alert_thresholds_percent': alert_thresholds()}) }}
        || coalesce((
            select {{ ordered_string_agg(row_as_text('quotas'), "','", row_as_text('quotas')) }}
            from {{ ref('plan_quotas') }} as quotas
        ), '')
        || coalesce((
            select {{ ordered_string_agg("user_id || '=' || coalesce(plan, '')", "','", 'user_id, plan') }}
            from {{ ref('stg_raw__users') }}
        ), '')
    )
{%- endmacro %}

{#- A pre-hook of int_billing_quota_crossings: delete the months with a request priced since the last run that have
    no billed, priced request left (all held back after a catalog change); a full build would not have them. Only a
    stored month with such a request at or before its last stored one (`last_created_at`) can have lost its requests:
    when every request priced since comes after it (a new day), the month's stored requests were not priced again
    and are still billed and priced. Read once when the model is compiled: the first such month (none: nothing to
    delete, and nothing else is read); the delete then reads the stored months from it on. -#}
{% macro delete_emptied_quota_months() -%}
    {%- set literal = execute and is_incremental() and model.resource_type != 'unit_test' -%}
    {%- set since = watermark('updated_at', quota_fingerprint_sql() if literal else none) -%}
    {%- if literal -%}
        {%- set first = run_query("select cast(min(kept.month_start_date) as string) from " ~ this ~ " as kept"
                                  ~ " semi join (select user_id, created_at from " ~ ref('int_requests_charged')
                                  ~ " where priced_at > " ~ since ~ ") as charged on charged.user_id = kept.user_id"
                                  ~ " and cast(date_trunc('month', charged.created_at) as date) = kept.month_start_date"
                                  ~ " and (kept.last_created_at is null or charged.created_at <= kept.last_created_at)"
                                  ).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if not is_incremental() or (literal and first is none) -%}
        select 1
    {%- else -%}
    delete from {{ this }} as kept
    where {% if literal %}kept.month_start_date >= cast(cast('{{ first }}' as timestamp) as date) and {% endif %}exists (
        select 1 from {{ ref('int_requests_charged') }} as charged
        where charged.priced_at > {{ since }} and charged.user_id = kept.user_id
            and cast(date_trunc('month', charged.created_at) as date) = kept.month_start_date
            and (kept.last_created_at is null or charged.created_at <= kept.last_created_at)
    )
    and not exists (
        select 1 from (
            select * from {{ ref('int_requests_charged') }}
            where is_billed and has_price
            {%- if literal %} and created_at >= cast('{{ first }}' as timestamp){% endif %}
        ) as charged
        where charged.user_id = kept.user_id
            and charged.created_at >= kept.month_start_date and charged.created_at < kept.month_start_date + interval 1 month
    )
    {%- endif -%}
{%- endmacro %}

{#- For int_billing_trial_ends (incremental): per user with a request priced since its last run (`reprice_from`, the
    earliest), unless the stored end comes before it: whether the user `goes_on` from the stored totals (no end
    stored, and the stored last billed request before reprice_from, so every billed request before it is in the
    totals as it was; or no row stored: no request before it), and those totals (0 when none). A table stored
    before it kept these totals (an upgrade) has none: that run computes every user from all of their requests, as
    a full refresh would (it adds the columns: on_schema_change), and later runs go on. -#}
{% macro trial_end_restarts() -%}
    {%- set stored = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- if 'trial_tokens_so_far' in stored and 'last_billed_at' in stored and 'month_spend_so_far' in stored %}
    select restart.user_id, restart.reprice_from,
        kept.user_id is null
            or (kept.request_id is null and kept.trial_tokens_so_far is not null
                and (kept.last_billed_at is null or kept.last_billed_at < restart.reprice_from)) as goes_on,
        coalesce(kept.trial_tokens_so_far, 0) as trial_tokens_so_far,
        kept.last_billed_at,
        coalesce(kept.month_spend_so_far, 0) as month_spend_so_far
    from (
        select user_id, min(created_at) as reprice_from
        from {{ ref('int_requests_charged') }}
        where priced_at > {{ watermark('updated_at', '') }}
        group by user_id
    ) as restart
    left join {{ this }} as kept on kept.user_id = restart.user_id
    where kept.created_at is null or kept.created_at >= restart.reprice_from
    {%- else %}
    -- stored before the totals: every user computed again from all of their requests, once
    select user_id, min(created_at) as reprice_from, false as goes_on, 0 as trial_tokens_so_far,
        cast(null as timestamp) as last_billed_at, cast(0 as decimal(38, 12)) as month_spend_so_far
    from {{ ref('int_requests_charged') }}
    group by user_id
    {%- endif %}
{%- endmacro %}

{#- For int_requests_trial_applied (`requests`: the CTE of its narrow input rows): CTEs `to_price` (the rows to price)
    and `tokens_before_restart` (per user, the tokens the user's billed requests before them used). Incremental:
    for every user with a changed request (new, held back and now priced, or in the partition window), the user's
    requests from the earliest change on, after the tokens of the user's earlier requests (those rows stay as they
    are); otherwise (first build or full refresh) every request, from 0. -#}
{% macro trial_restart_ctes(requests) -%}
{% if is_incremental() %}
previous {{ cte_inlined() }} (
    select request_id, user_id, created_at, is_billed, has_price, total_tokens from {{ this }}
),

recently_priced as (
    -- the requests int_requests_priced priced since this model's last run (costed_at after the newest here): new
    -- ones, held-back ones priced again, or all of them after a catalog change (the pre-hook then emptied this)
    select request_id, user_id, created_at, has_price
    from {{ requests }}
    where costed_at > {{ watermark('costed_at', trial_fingerprint_sql()) }}
),

changed as (
    -- new requests, held-back ones that now have a price, and the days being re-materialized
    select recently_priced.request_id, recently_priced.user_id, recently_priced.created_at
    from recently_priced
    left join previous using (request_id)
    where previous.request_id is null
        or (previous.is_billed and not previous.has_price and recently_priced.has_price)
    union all
    select request_id, user_id, created_at
    from {{ requests }}
    where {{ in_partition_window('created_at') }}
),

restart as (
    select user_id, min(created_at) as reprice_from
    from changed
    group by user_id
),

to_price as (
    select requests.*
    from {{ requests }}
    inner join restart
        on requests.user_id = restart.user_id
        and requests.created_at >= restart.reprice_from
    -- lets the scan skip what is older than every restart
    where requests.created_at >= (select min(reprice_from) from restart)
),

tokens_before_restart as (
    -- what each affected user's billed requests before the re-priced stretch used (those rows stay as they are)
    select previous.user_id, sum(previous.total_tokens) as tokens
    from previous
    inner join restart
        on previous.user_id = restart.user_id
        and previous.created_at < restart.reprice_from
    where previous.is_billed and previous.has_price
    group by previous.user_id
),
{% else %}
to_price as (
    select * from {{ requests }}
),

tokens_before_restart as (
    select cast(null as string) as user_id, cast(0 as {{ int128() }}) as tokens
    where false
),
{% endif %}
{%- endmacro %}

{#- The quota alert types of int_billing_quota_crossings: per threshold of var alert_thresholds_percent, for tokens
    and for spend: (alert type, metric, threshold, the month's running usage column, the request's own column, the
    plan's quota column). -#}
{% macro quota_alert_types() -%}
    {%- set types = [] -%}
    {%- for threshold in alert_thresholds() -%}
        {%- do types.append(('tokens_' ~ threshold ~ 'pct', 'tokens', threshold, 'month_tokens', 'total_tokens',
                             'monthly_token_quota')) -%}
        {%- do types.append(('spend_' ~ threshold ~ 'pct', 'spend', threshold, 'month_spend_usd', 'user_charge_usd',
                             'monthly_spend_quota_usd')) -%}
    {%- endfor -%}
    {%- do return(types) -%}
{%- endmacro %}

{#- For int_billing_quota_crossings: a row whose month-to-date usage `used` (after the row's own `added`) reaches
    `threshold` percent of `quota`, above 0, and did not before the row crosses the threshold. -#}
{% macro crosses_quota_threshold(threshold, used, added, quota) -%}
    {{ quota }} > 0 and {{ used }} * 100 >= {{ threshold }} * {{ quota }}
        and ({{ used }} - {{ added }}) * 100 < {{ threshold }} * {{ quota }}
{%- endmacro %}

{#- For int_billing_quota_crossings (`charged`: its CTE of int_requests_charged with month_start_date): CTEs `stored`
    (this table) and `restart` (per month with a request priced since the last run: `sum_from`, where its running
    sums restart, and the stored totals they go on from when every changed request comes after the month's last
    stored one, or from 0 when none is stored, `goes_on`), and `billed` (the billed, priced requests to sum, with
    tokens_before and spend_before). First build or full refresh: every billed, priced request, from 0. -#}
{% macro quota_restart_ctes(charged) -%}
{% if is_incremental() -%}
{%- set since = watermark('updated_at', quota_fingerprint_sql()) -%}
stored as (
    select * from {{ this }}
),

restart as (
    -- per changed month: sum from the earliest changed request on, starting from the stored totals (none stored:
    -- from 0, as the month had no billed, priced request before it), or from scratch
    select changed.*, {{ quota_month_goes_on('months', 'changed') }} as goes_on,
           case when goes_on then changed.reprice_from else changed.month_start_date end as sum_from,
           case when goes_on then coalesce(months.month_tokens, 0) else 0 end as tokens_before,
           case when goes_on then coalesce(months.month_spend_usd, 0) else 0 end as spend_before
    from (
        select user_id, month_start_date, min(created_at) as reprice_from
        from {{ charged }} where priced_at > {{ since }} group by all
    ) as changed
    left join (select distinct user_id, month_start_date, month_tokens, month_spend_usd, last_created_at from stored)
        as months using (user_id, month_start_date)
),

billed as (
    select charged.*, restart.tokens_before, restart.spend_before
    from {{ charged }} as charged
    inner join restart
        on charged.user_id = restart.user_id and charged.month_start_date = restart.month_start_date
        and charged.created_at >= restart.sum_from
    where charged.is_billed and charged.has_price and charged.created_at >= {{ quota_sum_from(since) }}
),
{%- else -%}
billed as (
    select *, 0 as tokens_before, 0 as spend_before from {{ charged }} where is_billed and has_price
),
{%- endif %}
{%- endmacro %}

{#- For quota_restart_ctes: whether a changed month's running sums go on from what is stored (`months`: its stored
    row, `changed`: its earliest changed request, `reprice_from`), i.e. every request of the month before that one
    is as it was when the row was stored: when the row's last request comes before it, or when no row is stored (a
    user with a quota stores a row for every month with a billed, priced request, so the month had none before it;
    a user without one has no row, and the model keeps no month of theirs; a month deleted as emptied had none left). -#}
{% macro quota_month_goes_on(months, changed) -%}
    ({{ months }}.user_id is null or {{ months }}.last_created_at < {{ changed }}.reprice_from)
{%- endmacro %}

{#- For quota_restart_ctes: the earliest `sum_from` of its CTE `restart`, where the scan of the billed requests starts.
    Read when the model is compiled and written in as a literal, so that DuckDB skips the older row groups (a new
    day reads the new day, not the month: a subquery is not pushed into the scan); the same expression as `restart`
    (an earlier bound would do too: the join keeps each month's own `sum_from`), read before the pre-hooks run.
    Nothing changed: a time after any data. A unit test keeps the subquery. -#}
{% macro quota_sum_from(since) -%}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set query -%}
            select cast(coalesce(min(case when {{ quota_month_goes_on('months', 'changed') }}
                                          then changed.reprice_from
                                          else cast(changed.month_start_date as timestamp) end),
                                 cast('9999-12-31' as timestamp)) as string)
            from (
                select user_id, cast(date_trunc('month', created_at) as date) as month_start_date,
                       min(created_at) as reprice_from
                from {{ ref('int_requests_charged') }} where priced_at > {{ since }} group by all
            ) as changed
            -- the stored months the model's `stored` will hold: the pre-hook drops the rows of another fingerprint
            -- (it runs after this is read); a month it deletes as emptied does not go on, stored or not
            left join (
                select distinct user_id, month_start_date, last_created_at from {{ this }}
                where knobs_fingerprint = ({{ quota_fingerprint_sql() }})
            ) as months using (user_id, month_start_date)
        {%- endset -%}
        cast('{{ run_query(query).columns[0].values()[0] }}' as timestamp)
    {%- else -%}
        (select min(sum_from) from restart)
    {%- endif -%}
{%- endmacro %}

{#- For int_requests_priced (`landed`: the landed requests): the CTE `requests`, the requests to price. Incremental:
    the requests not in this table yet and the held-back ones again; a first build or full refresh: every request.
    The requests not in this table yet are the ones landed after its newest `loaded_at` (W) whenever every request
    landed up to W is in it: read when the model is compiled, as two counts of the rows landed up to W (the landed
    ones, and this table's rows that keep the catalog fingerprint) that DuckDB answers from the `loaded_at` column
    alone. Equal counts mean the same rows: the landing only appends and writes a request id once
    (ingest/warehouse.py), and every row here was priced from a landed row. A new day then reads the new day (and
    the few held-back requests), not every request id of the history. Otherwise (a landing that committed rows
    stamped before W after the last build, a catalog change, a unit test): one anti-join on the request ids. -#}
{% macro requests_to_price(landed) -%}
{% if is_incremental() -%}
{%- set since = none -%}
{%- if execute and model.resource_type != 'unit_test' -%}
    {%- set kept = "catalog_fingerprint = (" ~ catalog_fingerprint_sql() ~ ")" -%}
    {%- set query -%}
        with mark as (select max(loaded_at) as loaded_at from {{ this }} where {{ kept }})
        select
            cast((select loaded_at from mark) as string),
            (select count(*) from {{ landed }} where loaded_at <= (select loaded_at from mark))
                = (select count(*) from {{ this }} where {{ kept }} and loaded_at <= (select loaded_at from mark))
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {%- if row[0] is not none and row[1] -%}{%- set since = row[0] -%}{%- endif -%}
{%- endif %}
{%- if since is not none %}
requests as (
    -- every request landed up to the newest one here is here: the ones landed since (the scan skips the older row
    -- groups), and the held-back ones again
    select *
    from {{ landed }}
    where loaded_at > cast('{{ since }}' as timestamp)
    union all
    select landed.*
    from {{ landed }} as landed
    semi join (
        select request_id, loaded_at
        from {{ this }}
        -- (the first test is a constant one that DuckDB applies in the scan)
        where (has_price = false or has_price is null) and not coalesce(has_price or not is_billed, false)
    ) as held_back using (request_id, loaded_at)
),
{%- else %}
to_price as (
    -- new requests, and the held-back ones again: one anti-join on the request ids alone
    select request_id, loaded_at
    from {{ landed }}
    anti join (select request_id from {{ this }} where has_price or not is_billed) as kept using (request_id)
),

requests as (
    -- joined on loaded_at too: the scan of the landed requests then skips the row groups landed before the
    -- earliest of them (DuckDB pushes the join keys' range into the scan)
    select landed.*
    from {{ landed }} as landed
    semi join to_price using (request_id, loaded_at)
),
{%- endif %}
{%- else %}
requests {{ cte_inlined() }} (
    -- (inlined: a full build reads it once per piece of created_at, each piece's scan skipping the other row groups)
    select * from {{ landed }}
),
{%- endif %}
{%- endmacro %}

{#- For rows_of_changed_groups: two days before the earliest request changed since this model's last run (a request
    re-priced since then, or, with `source`, a row of that model written since then: its updated_at), or with
    `utc_days` the start of its UTC day (a group of one UTC day holds no row before it). With
    `fingerprint` (see watermark) it is read when the model is compiled and written in as a literal, so that DuckDB
    prunes the scan with it (nothing changed: a day after any data, so nothing is read); else a subquery over
    `changed`. -#}
{% macro earliest_changed_day(fingerprint=none, source=none, utc_days=false) -%}
    {%- if fingerprint is not none and execute and is_incremental() and model.resource_type != 'unit_test' -%}
        {%- set since = watermark('updated_at', fingerprint) -%}
        {%- set query -%}
            select cast({{ "date_trunc('day', " if utc_days }}coalesce(min(created_at), cast('9999-12-31' as timestamp)) - interval {{ 0 if utc_days else 2 }} day{{ ")" if utc_days }} as string) from (
                {%- if source %}
                select created_at from {{ source }} where updated_at > {{ since }} union all
                {%- endif %}
                select created_at from {{ ref('int_requests_trial_applied') }} where priced_at > {{ since }}
            )
        {%- endset -%}
        cast('{{ run_query(query).columns[0].values()[0] }}' as timestamp)
    {%- elif utc_days -%}
        (select date_trunc('day', min(created_at)) from changed)
    {%- else -%}
        (select min(created_at) - interval 2 day from changed)
    {%- endif -%}
{%- endmacro %}

{#- dbt-duckdb's delete+insert (dbt/include/duckdb/macros/materializations/incremental_strategy/delete_insert.sql),
    with one addition: a model may name, in the config `delete_bound`, a column whose value a key never changes
    (`created_at` of a request, or the date in a group's key). The delete then reads only the stored rows whose value
    is at least the smallest among the new rows (read when the model runs, written in as a literal): DuckDB prunes
    the older row groups (a new day reads the new day's rows instead of every key of the history). A stored row
    with a null there stays within the delete's reach. -#}
{% macro duckdb__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute="name")) -%}
    {%- set bound = config.get('delete_bound') -%}
    {%- set is_list = unique_key is sequence and unique_key is not string -%}
    {%- set column = ("DBT_INCREMENTAL_TARGET." if is_list else "") ~ bound -%}
    {%- set predicates = (incremental_predicates or []) | list -%}
    {%- if bound and execute -%}
        {#- a literal: DuckDB prunes a scan with a constant, not with a subquery under `or` -#}
        {%- set row = run_query("select cast(min(" ~ bound ~ ") as string), typeof(min(" ~ bound ~ ")) from "
                                ~ source).rows[0] -%}
        {%- if row[0] is not none -%}
            {%- do predicates.append("(" ~ column ~ " >= cast('" ~ row[0] ~ "' as " ~ row[1] ~ ") or " ~ column
                                     ~ " is null)") -%}
        {%- endif -%}
    {%- endif %}
    {% if unique_key %}
        {% if is_list %}
            delete from {{ target }} as DBT_INCREMENTAL_TARGET
            using {{ source }}
            where (
                {% for key in unique_key %}
                    {{ source }}.{{ key }} = DBT_INCREMENTAL_TARGET.{{ key }}
                    {{ "and " if not loop.last }}
                {% endfor %}
                {% for predicate in predicates %}
                    and {{ predicate }}
                {% endfor %}
            );
        {% else %}
            delete from {{ target }}
            where (
                {{ unique_key }}) in (
                select ({{ unique_key }})
                from {{ source }}
            )
            {%- for predicate in predicates %}
                and {{ predicate }}
            {% endfor -%};
        {% endif %}
    {% endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}
