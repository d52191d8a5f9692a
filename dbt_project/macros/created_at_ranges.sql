{#-
    A large per-request query in pieces of bounded size: the same query once per range of created_at (UTC days),
    glued with `union all`. DuckDB builds a hash table (join, group by) per piece that fits in its memory_limit
    instead of one over every request that spills to disk: at 5M requests, ai_usage_analytics' join costs 23.7 CPU s
    with 1 GiB in one piece, 16 in pieces of about a million rows (README Performance). The tables are stored roughly
    in created_at order, so each piece's scans skip the row groups of the other ranges (zonemaps).

    Only for a query where each output row depends on rows of one request, or of one UTC day (a join on request_id,
    a group by request_id or by a day): never for a window over a user's whole history. Each side of a join is
    restricted to the same range (the request's created_at is the same in every table).

    Usage (the ranges are read from the data when the model is compiled, just before it runs):
        {% call(range) union_all_by_created_at(created_at_ranges(ref('x'), where="...")) %}
            select ... from (select * from {{ ref('x') }} where {{ in_created_at_range('created_at', range) }}) ...
        {% endcall %}
-#}

{#- The most rows of `relation` a range holds (whole days: a day with more rows is a range of its own), the dbt var
    created_at_range_rows (default 1,000,000: measured at 5M requests, README Performance), checked at run start. -#}
{% macro created_at_range_rows() -%}
    {%- set value = var('created_at_range_rows', 1000000) | string | trim -%}
    {%- if not modules.re.fullmatch('[1-9][0-9]{0,11}', value) -%}
        {{ exceptions.raise_compiler_error(
            "dbt var 'created_at_range_rows' = " ~ value[:40] ~ " must be a whole number, 1..999999999999; "
            ~ "set it like --vars '{created_at_range_rows: 1000000}'.") }}
    {%- endif -%}
    {%- do return(value | int) -%}
{%- endmacro %}

{#- The ranges of created_at covering the rows of `relation` that meet `where` (SQL, optional), each with at most
    created_at_range_rows() rows (whole UTC days, packed in order), as a list of {from, to, nulls}: half-open,
    [from, to), `none` meaning unbounded. The first range is open below and the last open above, so that every row
    falls in exactly one range whatever its created_at; rows with a null created_at get a range of their own when
    there are any. One range (every row: the query unchanged) when the rows fit in one (an incremental run), when
    not executing (parse), in a unit test (whose refs are CTEs) and on an engine that does not need it
    (splits_by_created_at() in macros/cross_engine.sql). -#}
{% macro created_at_ranges(relation, where=none) -%}
    {%- set whole = whole_created_at_range() -%}
    {%- if not (execute and splits_by_created_at() and model.resource_type != 'unit_test') -%}
        {%- do return(whole) -%}
    {%- endif -%}
    {%- set limit = created_at_range_rows() -%}
    {%- set days = run_query(
        "select cast(cast(created_at as date) as string) as created_day, count(*) as row_count from " ~ relation
        ~ (" where " ~ where if where else "") ~ " group by 1 order by 1").rows -%}
    {%- set bounds = [] -%}
    {%- set state = namespace(rows=0, nulls=false) -%}
    {%- for day, count in days -%}
        {%- if day is none -%}
            {%- set state.nulls = true -%}
        {%- else -%}
            {%- if state.rows > 0 and state.rows + count > limit -%}
                {%- do bounds.append(day) -%}
                {%- set state.rows = 0 -%}
            {%- endif -%}
            {%- set state.rows = state.rows + count -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not bounds -%}
        {%- do return(whole) -%}
    {%- endif -%}
    {%- set ranges = [] -%}
    {%- for index in range(bounds | length + 1) -%}
        {%- do ranges.append({'from': bounds[index - 1] if index > 0 else none,
                              'to': bounds[index] if index < bounds | length else none, 'nulls': false}) -%}
    {%- endfor -%}
    {%- if state.nulls -%}
        {%- do ranges.append({'from': none, 'to': none, 'nulls': true}) -%}
    {%- endif -%}
    {%- do return(ranges) -%}
{%- endmacro %}

{#- The one range of every row (a query left whole), as created_at_ranges() gives it for a small run. -#}
{% macro whole_created_at_range() -%}
    {%- do return([{'from': none, 'to': none, 'nulls': false}]) -%}
{%- endmacro %}

{#- A SQL condition: `column` lies in `range` (one of created_at_ranges()). The one range of a query left whole is
    `true` (nulls included). -#}
{% macro in_created_at_range(column, range) -%}
    {%- if range.nulls -%}
        {{ column }} is null
    {%- elif range.from is none and range.to is none -%}
        true
    {%- else -%}
        (
        {%- if range.from is not none %}{{ column }} >= cast('{{ range.from }}' as timestamp){% endif -%}
        {%- if range.from is not none and range.to is not none %} and {% endif -%}
        {%- if range.to is not none %}{{ column }} < cast('{{ range.to }}' as timestamp){% endif -%}
        )
    {%- endif -%}
{%- endmacro %}

{#- The caller's query (a call block taking the range) once per range, glued with `union all`. -#}
{% macro union_all_by_created_at(ranges) -%}
    {%- for range in ranges %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select * from (
        {{ caller(range) | indent(8) }}
    ) as created_at_range_{{ loop.index }}
    {%- endfor %}
{%- endmacro %}
