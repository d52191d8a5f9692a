{#-
    Data tests on the big incremental tables check the rows the last run wrote, not all of history again: a generic
    test (unique, not_null, non_negative, accepted_values, ...) on one of the tables below reads only the rows whose
    write-time column equals its newest value. A full build or full refresh writes every row at once (one value),
    so it checks every row; an incremental run checks the rows it (re)wrote. The meaning holds because every test
    here is about single rows, except `unique`, and the unique key is what these tables are merged on
    (delete+insert by request_id, or by the group of a daily aggregate): a duplicate can only come from the rows of
    one write. A row that is not rewritten
    was checked when it was written; a change of a knob or of the catalog rewrites every row (and so checks it).
    A test's own `where:` config still works as usual (dbt's default below).
-#}
{% macro latest_write_columns() -%}
    {%- do return({
        'int_requests_priced': 'costed_at',
        'int_requests_trial_applied': 'priced_at',
        'ai_usage_analytics': 'updated_at',
        'int_model_usage_daily': 'updated_at',
        'int_pricing_policy_daily': 'updated_at',
        'user_ai_usage_summary': 'updated_at',
    }) -%}
{%- endmacro %}

{#- The landed requests a build has not checked yet: the source test on raw.gateway_requests (raw_gateway_requests_row_checks:
    unique and not_null on id, not_null on created_at) reads the rows landed after the newest row int_requests_priced holds (its loaded_at),
    and every older row that shares an id with one of them. Rows landed before that were landed before the build that
    priced them, whose source tests (they run before any model) checked them. The landing writes a request id once
    (it skips ids the table already holds: ingest/warehouse.py), and a duplicate that slipped through with a new row
    is still found (the old row with the same id is read too). A full refresh, or a warehouse not built yet, checks
    every row. SQL, or none for every row. -#}
{% macro landed_since_last_build(relation) -%}
    {%- if flags.FULL_REFRESH or not execute -%}{%- do return(none) -%}{%- endif -%}
    {%- set priced = adapter.get_relation(database=relation.database, schema='intermediate',
                                          identifier='int_requests_priced') -%}
    {%- if priced is none -%}{%- do return(none) -%}{%- endif -%}
    {%- do return("(select * from " ~ relation ~ " where id in (select id from " ~ relation ~ " where loaded_at > "
                  ~ "(select coalesce(max(loaded_at), cast('1970-01-01' as timestamp)) from " ~ priced ~ ")))"
                  ~ " dbt_subquery") -%}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set column = latest_write_columns().get(relation.identifier) if relation.identifier is defined else none -%}
    {%- set is_landed_requests = relation.identifier is defined and relation.identifier == 'gateway_requests'
                                 and relation.schema == 'raw' -%}
    {%- if where -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") -%}
    {%- elif is_landed_requests and landed_since_last_build(relation) -%}
        {%- do return(landed_since_last_build(relation)) -%}
    {%- elif column -%}
        {%- do return("(select * from " ~ relation ~ " where " ~ column ~ " = (select max(" ~ column ~ ") from "
                      ~ relation ~ ")) dbt_subquery") -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- For the singular tests that compare an incremental mart with the sums of ai_usage_analytics: the groups (keys:
    {name: SQL expression over a request}) that the last runs wrote, i.e. the groups of the mart's newest write and
    the groups of the requests ai_usage_analytics and int_requests_trial_applied wrote last (requests that left the
    mart after a catalog change included). A full build writes everything at once: every group. Also `min_created_at`,
    two days before the earliest of those groups' requests could start (any reporting time zone), to skip older rows. -#}
{% macro latest_written_groups(mart, keys) -%}
touched as (
    select {{ keys.keys() | join(', ') }}
    from {{ ref(mart) }}
    where updated_at = (select max(updated_at) from {{ ref(mart) }})
    union
    select {% for name, expr in keys.items() %}{{ expr }} as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    from {{ ref('ai_usage_analytics') }}
    where updated_at = (select max(updated_at) from {{ ref('ai_usage_analytics') }})
    union
    select {% for name, expr in keys.items() %}{{ expr }} as {{ name }}{{ ", " if not loop.last }}{% endfor %}
    from {{ ref('int_requests_trial_applied') }}
    where priced_at = (select max(priced_at) from {{ ref('int_requests_trial_applied') }})
),

bounds as (
    select cast(min(date) as timestamp) - interval 2 day as min_created_at from touched
),
{%- endmacro %}

{#- True when the mart and ai_usage_analytics each hold one write only (updated_at the same on every row, as after a
    full build or a full refresh): the groups latest_written_groups would find are then every group on either side,
    so a test compares every group without computing them (the union of the three tables' groups cost more than the
    comparison itself). False on an empty table and at parse time (scoped: the same result, at the scoped query's
    cost). One query of two min/max. -#}
{% macro is_one_write(mart) -%}
    {%- if not execute -%}{%- do return(false) -%}{%- endif -%}
    {%- set sql -%}
    select coalesce(
        (select min(updated_at) = max(updated_at) from {{ ref(mart) }})
        and (select min(updated_at) = max(updated_at) from {{ ref('ai_usage_analytics') }}),
        false)
    {%- endset -%}
    {%- do return(run_query(sql).columns[0].values()[0] == true) -%}
{%- endmacro %}

{#- The values of `columns` that more than one row of `relation` holds, with how many rows hold each (`occurrences`):
    a uniqueness test's failures, exact, found in
    two passes: rows are grouped by hash(columns), a number (a grouping of 3.6M rows by three text and date columns
    costs half as much as by the columns themselves), and only the rows of a hash held more than once (none, or a few
    collisions) are grouped by the columns. nulls_aside: leave out rows with a null in any column (dbt's `unique`);
    otherwise nulls equal each other (unique_combination_of_columns). DuckDB's and Spark's hash() take any columns. -#}
{% macro repeated_keys(relation, columns, nulls_aside=false) -%}
    {%- set key = columns | join(', ') -%}
    {%- set not_null -%}
        {%- for column in columns %}{{ column }} is not null{{ " and " if not loop.last }}{% endfor -%}
    {%- endset -%}
select {{ key }}, count(*) as occurrences
from {{ relation }}
where {% if nulls_aside %}{{ not_null }} and {% endif %}hash({{ key }}) in (
    select hash({{ key }})
    from {{ relation }}
    {%- if nulls_aside %}
    where {{ not_null }}
    {%- endif %}
    group by hash({{ key }})
    having count(*) > 1
)
group by {{ key }}
having count(*) > 1
{%- endmacro %}
