{#- How the requests add up, written once for every model and test that sums them (ai_usage_analytics or a table
    of the same columns): counts, token sums as bigint, money summed exactly (decimal, pricing-rules.md).
    measures: column names, or (output name, column) pairs where the output is named otherwise, e.g.
    ('revenue_usd', 'user_charge_usd'). money_type: a type to cast each money sum to (none: the sum's own type).
    Standard SQL (DuckDB and Spark). -#}
{% macro request_sums(measures, money_type=none) -%}
    {%- set counts = {
        'requests': 'count(*)',
        'billed_requests': 'count(*) filter (where is_billed)',
        'failed_requests': 'count(*) filter (where not is_billed)',
        'users': 'count(distinct user_id)',
    } -%}
    {%- set lines = [] -%}
    {%- for measure in measures -%}
        {%- set name = measure if measure is string else measure[0] -%}
        {%- set column = measure if measure is string else measure[1] -%}
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
    groups that differ, missing on either side included. scoped: compare only the groups the last runs wrote
    (latest_written_groups, macros/test_scope.sql; every group on a full build); otherwise every group. -#}
{% macro mart_equals_request_sums(mart, keys, measures, scoped=true) -%}
{%- set key_names = keys.keys() | join(', ') -%}
with {% if scoped %}{{ latest_written_groups(mart, keys) }}

{% endif -%}
per_request as (
    select
        {%- for name, expr in keys.items() %}
        {{ expr }} as {{ name }},
        {%- endfor %}
        {{ request_sums(measures) }}
    from {{ ref('ai_usage_analytics') }}
    {%- if scoped %}
    where created_at >= (select min_created_at from bounds)
    {%- endif %}
    group by all
),

in_mart as (
    select * from {{ ref(mart) }}
    {%- if scoped %}
    semi join touched using ({{ key_names }})
    {%- endif %}
)

select *
from {% if scoped %}(select * from per_request semi join touched using ({{ key_names }})) as {% endif %}per_request
full outer join in_mart using ({{ key_names }})
where {% for measure in measures -%}
    {%- set name = measure if measure is string else measure[0] -%}
    per_request.{{ name }} is distinct from in_mart.{{ name }}{{ "\n    or " if not loop.last }}
{%- endfor %}
{%- endmacro %}

{#- The columns that name a statement period (statement_period), for the rollups that keep them and group by them. -#}
{% macro statement_period_columns() -%}
    period_month, period_start_date, period_end_date, is_provisional
{%- endmacro %}
