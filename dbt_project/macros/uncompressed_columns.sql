{#-
    DuckDB: a table's columns listed in its model's meta `uncompressed_columns` (e.g. request_id, unique per row) are
    stored as they are (`using compression uncompressed`), as the landing stores raw.gateway_requests.id. DuckDB
    tries dictionary and FSST compression on every row group of a string column as it writes it; on 5M distinct
    request ids that costs about 1.5 CPU s per table written (1.9 -> 0.4), for a column of about 92 MB instead of
    134 at 5M requests. The same rows and types: only how the column is stored changes.

    dbt-duckdb's create_table_as (which every table and the first build of an incremental model go through), with
    the listed columns declared `using compression uncompressed`: a model with an enforced contract declares its
    contract's columns so (its data types and constraints as dbt renders them); another one declares the columns
    and types of its query (DuckDB's DESCRIBE, which plans the query without running it), then inserts its rows.
    Temporary tables (an incremental run's new rows), models without the meta key and models with a sql_header are
    created by dbt-duckdb as before; an incremental run inserts into the table as it was created. Spark never calls
    this (duckdb__ only).
-#}
{% macro duckdb__create_table_as(temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none) -%}
    {%- set uncompressed = (config.get('meta') or {}).get('uncompressed_columns') or [] -%}
    {%- if temporary or language != 'sql' or not uncompressed or partitioned_by or sorted_by or config.get('sql_header') -%}
        {{ dbt.duckdb__create_table_as(temporary, relation, compiled_code, language, partitioned_by, sorted_by) }}
    {%- elif config.get('contract').enforced -%}
        {{ get_assert_columns_equivalent(compiled_code) }}
        {%- set columns = {} -%}
        {%- for name, column in model['columns'].items() -%}
            {%- set declared = column.copy() -%}
            {%- if column['name'] in uncompressed -%}
                {%- do declared.update({'constraints': [{'type': 'custom', 'expression': 'using compression uncompressed'}]
                                                       + (column.get('constraints') or [])}) -%}
            {%- endif -%}
            {%- do columns.update({name: declared}) -%}
        {%- endfor -%}
        {%- set column_lines = adapter.render_raw_columns_constraints(raw_columns=columns) -%}
        {%- set model_lines = adapter.render_raw_model_constraints(raw_constraints=model['constraints']) -%}
    create table {{ relation }} (
        {{ (column_lines + model_lines) | join(',\n        ') }}
    );
    insert into {{ relation }} {{ get_column_names() }} (
        {{ get_select_subquery(compiled_code) }}
    );
    {%- else -%}
        {%- set described = run_query('describe select * from (\n' ~ compiled_code ~ '\n) as model_subq') if execute -%}
    create table {{ relation }} (
        {%- for row in (described.rows if described else []) %}
        {{ adapter.quote(row[0]) }} {{ row[1] }}{{ ' using compression uncompressed' if row[0] in uncompressed }}{{ ',' if not loop.last }}
        {%- endfor %}
    );
    insert into {{ relation }} (
        select * from (
            {{ compiled_code }}
        ) as model_subq
    );
    {%- endif -%}
{%- endmacro %}
