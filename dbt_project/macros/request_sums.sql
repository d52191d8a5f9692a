{#- How the requests add up, written once for every model and test that sums them (ai_usage_analytics or a table
    of the same columns): counts, token sums as bigint, money summed exactly (decimal, pricing-rules.md).
    measures: column names, or (output name, column) pairs where the output is named otherwise, e.g.
    ('revenue_usd', 'user_charge_usd'). money_type: a type to cast each money sum to (none: the sum's own type).
    Standard SQL (DuckDB and Spark). -#}
{% macro request_sums(measures, money_type=none) -%}
    {%- set names, columns = measure_names_and_columns(measures) -%}
    {%- set counts = {
        'requests': 'count(*)',
        'billed_requests': 'count(*) filter (where is_billed)',
        'failed_requests': 'count(*) filter (where not is_billed)',
        'users': 'count(distinct user_id)',
    } -%}
    {%- set lines = [] -%}
    {%- for column in columns -%}
        {%- set name = names[loop.index0] -%}
        {%- if column in counts -%}
            {%- set expr = counts[column] -%}
        {%- elif column.endswith('_tokens') -%}
            {%- set expr = 'cast(sum(' ~ column ~ ') as bigint)' -%}
        {%- elif column.endswith('_usd') and money_type -%}
            {%- set expr = 'cast(sum(' ~ column ~ ') as ' ~ money_type ~ ')' -%}
        {%- elif column.endswith('_usd') -%}
            {%- set expr = 'sum(' ~ column ~ ')' -%}
        {%- else -%}
            {%- do exceptions.raise_compiler_error("request_sums: no rule to sum '" ~ column ~ "' (macros/request_sums.sql)") -%}
        {%- endif -%}
        {%- do lines.append(expr ~ ' as ' ~ name) -%}
    {%- endfor -%}
    {{ lines | join(',\n        ') }}
{%- endmacro %}

{#- The measures of request_sums as two lists: their output names and the columns they sum (the same for a measure
    given as a plain column name). -#}
{% macro measure_names_and_columns(measures) -%}
    {%- set names = [] -%}
    {%- set columns = [] -%}
    {%- for measure in measures -%}
        {%- do names.append(measure if measure is string else measure[0]) -%}
        {%- do columns.append(measure if measure is string else measure[1]) -%}
    {%- endfor -%}
    {%- do return([names, columns]) -%}
{%- endmacro %}

{#- The condition a compared group fails on (the columns of mart_equals_request_sums): not held in exactly one mart
    row, or a measure summed from the requests that is not the mart's. -#}
{% macro differs_from_mart(names) -%}
mart_rows <> 1
{%- for name in names %}
    or {{ name }} is distinct from {{ name }}_in_mart
{%- endfor %}
{%- endmacro %}

{#- A billed request whose model has no catalog price on its day: held back from billing (unpriced_requests), never
    billed at $0. prefix: a table alias with its dot, e.g. 'previous.'. -#}
{% macro is_held_back(prefix='') -%}
    {{ prefix }}is_billed and not {{ prefix }}has_price
{%- endmacro %}

{#- The requests the marts hold: priced, or not billed (the complement of is_held_back). -#}
{% macro is_kept_for_billing(prefix='') -%}
    {{ prefix }}has_price or not {{ prefix }}is_billed
{%- endmacro %}

{#- The statement period of a date (a calendar month, UTC) and whether it is provisional (the running month of
    finance_as_of, or later): period_month, period_start_date, period_end_date, is_provisional. Needs the as_of CTE
    (ref finance_as_of) in scope. -#}
{% macro statement_period(date_expr, as_of='as_of') -%}
    {{ year_month(date_expr) }} as period_month,
        cast(date_trunc('month', {{ date_expr }}) as date) as period_start_date,
        last_day({{ date_expr }}) as period_end_date,
        {{ year_month(date_expr) }} >= {{ as_of }}.running_month as is_provisional
{%- endmacro %}

{#- The body of a singular test: the mart's figures are the exact sums of ai_usage_analytics per group (keys:
    {name: SQL expression over a request}); measures as in request_sums, named as in the mart. Rows returned are the
    groups that differ, missing on either side included (each measure as summed from the requests, and as
    `<measure>_in_mart`), and the groups the mart holds in more than one row (`mart_rows`, 1 in a good mart): so the
    test checks the mart's key too (unique; and not null, as a row whose key is null matches no request). scoped:
    compare only the groups the last runs wrote (latest_written_groups, macros/test_scope.sql), unless the mart and
    ai_usage_analytics were each written at once (a full build: is_one_write), where that is every group; otherwise
    every group. few_groups (unscoped only): a mart of a few dozen groups (model_popularity): each side is summed by
    its own aggregate and the two joined by key (full join: a group missing on either side is kept), the same rows
    as the one aggregate at less cost (one more day at 5M: 1.2 -> 0.9 CPU s; the requests' aggregate then carries no
    mart rows and no filters). A group whose key is null is then two rows, one per side, each failing.
    Unscoped (a full build), without `users`: in two stages (mart_sum_differences): one aggregate finds the groups
    whose signed sums differ (a superset of the failing groups), and the comparison above runs on those groups only,
    nothing on a good mart (the test of user_ai_usage_summary at 5M: 3.2-3.4 -> 2.1-2.2 CPU s); the same rows. -#}
{% macro mart_equals_request_sums(mart, keys, measures, scoped=true, few_groups=false) -%}
{%- set scoped = scoped and not is_one_write(mart) -%}
{%- if few_groups and not scoped -%}
{{ mart_equals_request_sums_by_join(mart, keys, measures) }}
{%- else -%}
{%- set key_names = keys.keys() | join(', ') -%}
{%- set per_request = {'requests': '1', 'billed_requests': 'case when is_billed then 1 else 0 end',
                       'failed_requests': 'case when is_billed then 0 else 1 end', 'users': 'null'} -%}
{%- set names, columns = measure_names_and_columns(measures) -%}
{%- set two_stages = not scoped and 'users' not in columns -%}
with {% if scoped %}{{ latest_written_groups(mart, keys) }}

{% elif two_stages %}{{ mart_sum_differences(mart, keys, names, columns, per_request) }}

{% endif -%}
{#- The requests and the mart's rows as the rows of one aggregate (no join of two aggregates, which ran out of
    memory at 10M requests with DuckDB's 1 GiB: an aggregate spills to disk). A request counts as 1 request, its
    tokens and amounts as themselves (sums as in request_sums); `users` counts distinct user ids. -#}
both_sides as (
    select
        {%- for name, expr in keys.items() %}
        {{ expr }} as {{ name }},
        {%- endfor %}
        true as from_requests,
        user_id as request_user_id,
        {%- for column in columns %}
        {{ per_request.get(column, column) }} as {{ names[loop.index0] }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('ai_usage_analytics') }}
    {%- if scoped %}
    where created_at >= (select min_created_at from bounds)
    {%- endif %}
    union all
    select {{ key_names }}, false, null, {{ names | join(', ') }}
    from {{ ref(mart) }}
    {%- if scoped and 'date' in keys %}
    where date >= (select cast(min_created_at as date) from bounds)
    {%- endif %}
),

compared as (
    select
        {{ key_names }},
        {%- for name in names %}
        {%- if columns[loop.index0] == 'users' %}
        count(distinct request_user_id) filter (where from_requests) as {{ name }},
        {%- else %}
        sum({{ name }}) filter (where from_requests) as {{ name }},
        {%- endif %}
        sum({{ name }}) filter (where not from_requests) as {{ name }}_in_mart,
        {%- endfor %}
        count(*) filter (where not from_requests) as mart_rows
    from both_sides
    {%- if two_stages %}
    semi join differing on
        {%- for name in keys.keys() %}
        differing.{{ name }} is not distinct from both_sides.{{ name }}{{ " and" if not loop.last }}
        {%- endfor %}
    {%- endif %}
    group by {{ key_names }}
)

select *
from compared
{%- if scoped %}
semi join touched using ({{ key_names }})
{%- endif %}
where {{ differs_from_mart(names) }}
{%- endif %}
{%- endmacro %}

{#- The first stage of an unscoped mart_equals_request_sums: `differing`, the keys of the groups that may fail (every
    group that fails among them; on a good mart, none), from one aggregate over the requests and the mart's rows, each
    measure summed with the mart's values negated: the difference of the two sums, exact (integers and decimal(38,12)
    add exactly; an overflow is an error, never a wrong sum; no hash or checksum, so nothing can cancel out by chance).
    A group with exactly one mart row, at least one request and no null value on either side has both sums non-null,
    and they are equal if and only if their difference is 0; every other group (mart_rows <> 1, no request, a null
    value) is kept whatever its differences. The comparison then reads the rows of these groups only (a semi join on
    the key, nulls equal: a row whose key is null is its own group), so it returns the rows it returns over every
    group; on a good mart the join's build side is empty and DuckDB skips the second scan. names, columns,
    per_request: as in mart_equals_request_sums (no `users`, which a difference cannot count). -#}
{% macro mart_sum_differences(mart, keys, names, columns, per_request) -%}
signed_sides as (
    select
        {%- for name, expr in keys.items() %}
        {{ expr }} as {{ name }},
        {%- endfor %}
        0 as mart_row,
        {%- for column in columns %}
        {{ per_request.get(column, column) }} as {{ names[loop.index0] }},
        {%- endfor %}
        {% for column in columns if column not in per_request %}{{ column }} is null{{ " or " if not loop.last }}{% else %}false{% endfor %} as has_null
    from {{ ref('ai_usage_analytics') }}
    union all
    select
        {{ keys.keys() | join(', ') }},
        1,
        {%- for name in names %}
        -{{ name }},
        {%- endfor %}
        {% for name in names %}{{ name }} is null{{ " or " if not loop.last }}{% endfor %}
    from {{ ref(mart) }}
),

differences as (
    select
        {{ keys.keys() | join(', ') }},
        count(*) as all_rows,
        sum(mart_row) as mart_rows,
        {%- for name in names %}
        sum({{ name }}) as {{ name }},
        {%- endfor %}
        bool_or(has_null) as has_null
    from signed_sides
    group by {{ keys.keys() | join(', ') }}
),

differing as (
    select {{ keys.keys() | join(', ') }}
    from differences
    where mart_rows <> 1
        or all_rows = mart_rows
        or has_null
    {%- for name in names %}
        or {{ name }} <> 0
    {%- endfor %}
),
{%- endmacro %}

{#- mart_equals_request_sums with few_groups: the requests summed per key (request_sums), the mart's rows summed
    (and counted) per key, full-joined by key; the same columns and failing groups (mart_rows 0 for a group the mart
    lacks). -#}
{% macro mart_equals_request_sums_by_join(mart, keys, measures) -%}
{%- set key_names = keys.keys() | list -%}
{%- set names = measure_names_and_columns(measures)[0] -%}
with from_requests as (
    select
        {%- for name, expr in keys.items() %}
        {{ expr }} as {{ name }},
        {%- endfor %}
        {{ request_sums(measures) }}
    from {{ ref('ai_usage_analytics') }}
    group by {{ key_names | join(', ') }}
),

in_mart as (
    select
        {{ key_names | join(', ') }},
        {%- for name in names %}
        sum({{ name }}) as {{ name }}_in_mart,
        {%- endfor %}
        count(*) as mart_rows
    from {{ ref(mart) }}
    group by {{ key_names | join(', ') }}
),

compared as (
    select
        {{ key_names | join(', ') }},
        {%- for name in names %}
        from_requests.{{ name }},
        in_mart.{{ name }}_in_mart,
        {%- endfor %}
        coalesce(in_mart.mart_rows, 0) as mart_rows
    from from_requests
    full join in_mart using ({{ key_names | join(', ') }})
)

select *
from compared
where {{ differs_from_mart(names) }}
{%- endmacro %}

{#- The columns that name a statement period (statement_period), for the rollups that keep them and group by them. -#}
{% macro statement_period_columns() -%}
    period_month, period_start_date, period_end_date, is_provisional
{%- endmacro %}
