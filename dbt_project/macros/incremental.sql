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

{#- The newest value of `column` in this incremental model (a watermark), or a time before any data. -#}
{% macro watermark(column) -%}
    (select coalesce(max({{ column }}), cast('1970-01-01' as timestamp)) from {{ this }})
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

{#- What the trial depends on besides the requests: its knobs, the catalog (prices decide what is billed) and, when
    trial_start_date is set, the users' sign-up times. -#}
{% macro trial_fingerprint_sql() -%}
    {%- set start_date = trial_start_date() -%}
    select md5(
        {{ knobs_fingerprint({'free_trial_tokens': free_trial_tokens(), 'trial_start_date': start_date}) }}
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
{% macro repriced_requests_since_watermark() -%}
    select * from {{ ref('int_requests_trial_applied') }} where priced_at > {{ watermark('updated_at') }}
{%- endmacro %}

{#- For an incremental aggregate: CTEs `touched` and `to_sum`. `to_sum` holds the rows of `relation` (a CTE with
    created_at and updated_at) in every group (keys: {name: SQL expression}) that has a row updated since this
    model's last run, or a request re-priced since then (one that left `relation` included), so that those groups
    are summed again, whole; on a first run or full refresh, every row. A group left with no rows is deleted by the
    pre-hook `delete_emptied_groups` (an aggregate cannot emit "no row"). -#}
{% macro rows_of_changed_groups(relation, keys) -%}
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
    where updated_at > {{ watermark('updated_at') }}
    union all
    select
        {%- for name, expr in keys.items() %}
        {{ expr }} as _group_{{ name }},
        {%- endfor %}
        created_at
    from ({{ repriced_requests_since_watermark() }})
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
        -- a group's day starts at most two days before its earliest changed row (any time zone): only the rows of
        -- those days are read and keyed
        where created_at >= (select min(created_at) - interval 2 day from changed)
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
    aggregate sums (an intermediate aggregate reads int_requests_trial_applied, never a mart). -#}
{% macro delete_emptied_groups(source_model, keys, where=none) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as kept
    where exists (
        select 1 from ({{ repriced_requests_since_watermark() }}) as repriced
        where true
        {%- for name, expr in keys.items() %}
            and {{ expr }} = kept.{{ name }}
        {%- endfor %}
    )
    and not exists (
        -- the rows left in those groups are no older than two days before the earliest re-priced request
        select 1 from (
            select * from {{ ref(source_model) }}
            where {% if where %}({{ where }}) and {% endif %}created_at >= (
                select min(created_at) - interval 2 day from ({{ repriced_requests_since_watermark() }})
            )
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
