{#-
    Every difference between the engines the project runs on, in one place (README "Running on Spark"): DuckDB (the
    target `dev`, default) and Apache Spark 4.x (the targets `spark` and `spark_cluster`). Models, macros and tests
    spell everything else the way both engines accept (`cast(x as string)`, `* except (...)`, `max_by`, `semi join`,
    `group by all`, ...); tests/unit/test_cross_engine_lint.py fails on a DuckDB-only spelling outside this file.
    Each macro dispatches on the adapter: `duckdb__...`, `spark__...` (dbt-databricks falls back to spark__).
-#}

{#- The type of exact 128-bit integers (pico-dollars and their products): HUGEINT; on Spark decimal(38, 0). -#}
{% macro int128() -%}{{ return(adapter.dispatch('int128')()) }}{%- endmacro %}
{% macro default__int128() -%}hugeint{%- endmacro %}
{% macro spark__int128() -%}decimal(38, 0){%- endmacro %}

{#- Floor division of non-negative integers. Spark's `div` returns a BIGINT: every quotient the project takes is
    one request's amount in pico-dollars (below 9.2e18, i.e. $9.2 million per request). -#}
{% macro floor_div(numerator, denominator) -%}
    {{ return(adapter.dispatch('floor_div')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__floor_div(numerator, denominator) -%}(({{ numerator }}) // ({{ denominator }})){%- endmacro %}
{% macro spark__floor_div(numerator, denominator) -%}(({{ numerator }}) div ({{ denominator }})){%- endmacro %}

{#- string_agg of `expr` separated by `separator` (SQL), in the order of `order_by`. -#}
{% macro ordered_string_agg(expr, separator, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg')(expr, separator, order_by)) }}
{%- endmacro %}
{% macro default__ordered_string_agg(expr, separator, order_by) -%}
    string_agg({{ expr }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}
{% macro spark__ordered_string_agg(expr, separator, order_by) -%}
    string_agg({{ expr }}, {{ separator }}) within group (order by {{ order_by }})
{%- endmacro %}

{#- A UTC timestamp (without time zone) as the wall-clock time in `zone` (a SQL string: literal or column). -#}
{% macro utc_to_local(utc_column, zone) -%}
    {{ return(adapter.dispatch('utc_to_local')(utc_column, zone)) }}
{%- endmacro %}
{% macro default__utc_to_local(utc_column, zone) -%}
    timezone({{ zone }}, timezone('UTC', {{ utc_column }}))
{%- endmacro %}
{% macro spark__utc_to_local(utc_column, zone) -%}
    from_utc_timestamp({{ utc_column }}, {{ zone }})
{%- endmacro %}

{#- 'YYYY-MM' of a date or timestamp. -#}
{% macro year_month(expr) -%}{{ return(adapter.dispatch('year_month')(expr)) }}{%- endmacro %}
{% macro default__year_month(expr) -%}strftime({{ expr }}, '%Y-%m'){%- endmacro %}
{% macro spark__year_month(expr) -%}date_format({{ expr }}, 'yyyy-MM'){%- endmacro %}

{#- Seconds since midnight of a TIME. -#}
{% macro time_seconds(expr) -%}{{ return(adapter.dispatch('time_seconds')(expr)) }}{%- endmacro %}
{% macro default__time_seconds(expr) -%}epoch({{ expr }}){%- endmacro %}
{% macro spark__time_seconds(expr) -%}
    (hour({{ expr }}) * 3600 + minute({{ expr }}) * 60 + second({{ expr }}))
{%- endmacro %}

{#- A whole row of the relation `alias` as text (a fingerprint's input; the text differs between engines). -#}
{% macro row_as_text(alias) -%}{{ return(adapter.dispatch('row_as_text')(alias)) }}{%- endmacro %}
{% macro default__row_as_text(alias) -%}cast({{ alias }} as varchar){%- endmacro %}
{% macro spark__row_as_text(alias) -%}cast(struct({{ alias }}.*) as string){%- endmacro %}

{#- An ordering key of several values compared left to right (the second argument of min_by / max_by). -#}
{% macro sort_key(exprs) -%}{{ return(adapter.dispatch('sort_key')(exprs)) }}{%- endmacro %}
{% macro default__sort_key(exprs) -%}({{ exprs | join(', ') }}){%- endmacro %}
{% macro spark__sort_key(exprs) -%}struct({{ exprs | join(', ') }}){%- endmacro %}

{#- A CTE's `as` keyword: DuckDB's `as not materialized` inlines a CTE read twice; Spark always inlines. -#}
{% macro cte_inlined() -%}{{ return(adapter.dispatch('cte_inlined')()) }}{%- endmacro %}
{% macro default__cte_inlined() -%}as not materialized{%- endmacro %}
{% macro spark__cte_inlined() -%}as{%- endmacro %}

{#- ... and a CTE computed once, whatever reads it (row_checks' `materialize`): DuckDB's `as materialized`; Spark has
    no such hint (a plain CTE). -#}
{% macro cte_materialized() -%}{{ return(adapter.dispatch('cte_materialized')()) }}{%- endmacro %}
{% macro default__cte_materialized() -%}as materialized{%- endmacro %}
{% macro spark__cte_materialized() -%}as{%- endmacro %}

{#- Whether a large per-request query runs in pieces of created_at (macros/created_at_ranges.sql): on DuckDB, whose
    hash tables spill beyond its memory_limit; not on Spark, which shuffles and spills on its own (one query). -#}
{% macro splits_by_created_at() -%}{{ return(adapter.dispatch('splits_by_created_at')()) }}{%- endmacro %}
{% macro default__splits_by_created_at() -%}{{ return(true) }}{%- endmacro %}
{% macro spark__splits_by_created_at() -%}{{ return(false) }}{%- endmacro %}

{#- The materialization of the daily incremental models. On Spark a full rebuild (a table) at every run: their
    incremental logic deletes rows (delete+insert), which Parquet tables cannot do, and Delta Lake is not installed
    here. A run still gives the same marts as DuckDB's incremental run (tests/spark). -#}
{% macro incremental_materialization() -%}
    {{ return(adapter.dispatch('incremental_materialization')()) }}
{%- endmacro %}
{% macro default__incremental_materialization() -%}{{ return('incremental') }}{%- endmacro %}
{% macro spark__incremental_materialization() -%}{{ return('table') }}{%- endmacro %}

{#- on-run-start (renders to nothing; runs its statements itself): make the raw sources readable. DuckDB: the landing's tables are there (nothing to do). Spark:
    external tables `raw.*` over the Parquet mirror of the landing (ingest/raw_parquet.py), re-declared at every run
    (the mirror's columns follow the warehouse's) and their day partitions listed again. The mirror's folder is
    $AI_USAGE_SPARK_RAW_PARQUET, else <data dir>/raw_parquet. -#}
{% macro register_raw_sources() -%}{{ return(adapter.dispatch('register_raw_sources')()) }}{%- endmacro %}
{% macro default__register_raw_sources() -%}{%- endmacro %}
{% macro spark__register_raw_sources() -%}
    {%- set folder = env_var('AI_USAGE_SPARK_RAW_PARQUET', '')
                     or (var('data_dir', none) or env_var('AI_USAGE_DATA_DIR')) ~ '/raw_parquet' -%}
    {%- set tables = {
        'gateway_requests': "id string, created_at timestamp, user_id string, model string, status_code int,
            native_tokens_prompt bigint, native_tokens_completion bigint, native_tokens_cached bigint,
            native_tokens_cache_creation bigint, native_tokens_reasoning bigint, total_cost decimal(38, 12),
            record_hash string, source string, source_line bigint, load_id string, loaded_at timestamp,
            native_tokens_cache_creation_1h bigint, service_tier string, day string",
        'users': "id string, email string, created_at timestamp, plan string, source_line bigint, loaded_at timestamp",
        'quarantine': "source string, line_number bigint, reason string, field string, detail string,
            raw_line string, request_id string, load_id string, quarantined_at timestamp",
    } -%}
    {%- if execute -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for table, columns in tables.items() -%}
            {%- do run_query('drop table if exists raw.' ~ table) -%}
            {%- do run_query('create table raw.' ~ table ~ ' (' ~ columns ~ ') using parquet'
                             ~ (' partitioned by (day)' if table == 'gateway_requests' else '')
                             ~ " location '" ~ folder ~ '/' ~ table ~ "'") -%}
        {%- endfor -%}
        {%- do run_query('msck repair table raw.gateway_requests') -%}
    {%- endif -%}
{%- endmacro %}

{#- Seeds on Spark: dbt-spark's session-mode loader formats the values into the SQL itself without escaping quotes,
    and writes an empty cell as the string 'None'. This one writes each value as an escaped literal (Spark's string
    literals take backslash escapes) and an empty cell as null, as DuckDB's loader does. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    {%- set value = row[loop.index0] -%}
                    {%- if value is none -%}
                        cast(null as {{ type }})
                    {%- else -%}
                        cast('{{ (value | string).replace("\\", "\\\\").replace("'", "\\'") }}' as {{ type }})
                    {%- endif -%}
                    {{ "," if not loop.last }}
                {%- endfor -%}){{ "," if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}

{#- A hook deleting the rows of `relation` that meet `where`. Spark builds the daily models as tables (above): a full
    build never writes the rows such a hook removes, so there is nothing to delete (and Parquet tables cannot). -#}
{% macro delete_from(relation, where) -%}{{ return(adapter.dispatch('delete_from')(relation, where)) }}{%- endmacro %}
{% macro default__delete_from(relation, where) -%}delete from {{ relation }} where {{ where }}{%- endmacro %}
{% macro spark__delete_from(relation, where) -%}
    {%- if is_incremental() -%}
        {{ exceptions.raise_compiler_error(relation ~ ': rows cannot be deleted from a Parquet table on Spark') }}
    {%- endif -%}
    select 1
{%- endmacro %}

{#- Whole days from the date `start` to the date `end` (end - start). -#}
{% macro days_between(start, end) -%}{{ return(adapter.dispatch('days_between')(start, end)) }}{%- endmacro %}
{% macro default__days_between(start, end) -%}(({{ end }}) - ({{ start }})){%- endmacro %}
{% macro spark__days_between(start, end) -%}datediff({{ end }}, {{ start }}){%- endmacro %}

{#- A UTC timestamp without time zone as an instant (TIMESTAMPTZ on DuckDB; Spark's TIMESTAMP already is one, shown
    in the session's zone, UTC). -#}
{% macro utc_instant(utc_column) -%}{{ return(adapter.dispatch('utc_instant')(utc_column)) }}{%- endmacro %}
{% macro default__utc_instant(utc_column) -%}timezone('UTC', {{ utc_column }}){%- endmacro %}
{% macro spark__utc_instant(utc_column) -%}cast({{ utc_column }} as timestamp){%- endmacro %}

{#- The type of an instant: DuckDB's TIMESTAMPTZ, Spark's TIMESTAMP. Contracts may say `timestamptz`: spark__cast
    below reads it as Spark's TIMESTAMP. -#}
{% macro timestamptz() -%}{{ return(adapter.dispatch('timestamptz')()) }}{%- endmacro %}
{% macro default__timestamptz() -%}timestamptz{%- endmacro %}
{% macro spark__timestamptz() -%}timestamp{%- endmacro %}
{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ {'timestamptz': 'timestamp', 'varchar': 'string'}.get(type | lower | trim, type) }})
{%- endmacro %}

{#- An instant (timestamptz) as the wall-clock time in `zone` (a SQL string). -#}
{% macro instant_to_local(instant, zone) -%}
    {{ return(adapter.dispatch('instant_to_local')(instant, zone)) }}
{%- endmacro %}
{% macro default__instant_to_local(instant, zone) -%}timezone({{ zone }}, {{ instant }}){%- endmacro %}
{% macro spark__instant_to_local(instant, zone) -%}from_utc_timestamp({{ instant }}, {{ zone }}){%- endmacro %}

{#- A select item giving one row per day from the date `start` to the date `end` (both included), as a date. -#}
{% macro day_series(start, end) -%}{{ return(adapter.dispatch('day_series')(start, end)) }}{%- endmacro %}
{% macro default__day_series(start, end) -%}
    cast(unnest(generate_series({{ start }}, {{ end }}, interval 1 day)) as date)
{%- endmacro %}
{% macro spark__day_series(start, end) -%}
    explode(sequence(cast({{ start }} as date), cast({{ end }} as date), interval 1 day))
{%- endmacro %}
