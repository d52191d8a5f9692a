{#- The checks of one table in one test (one node and one read of the table instead of one per check): `checks` maps
    a name to what every row must meet, either
    - a SQL condition (a null result fails, as in not_null): `col >= 0` is not_null and non_negative together,
      `col is null or col >= 0` non_negative alone, `col is null or col in ('a', 'b')` accepted_values;
    - `unique(col)`: no two rows share a value of col, nulls aside (dbt's `unique`);
    - `unique_combination(col_a, col_b, ...)`: no two rows share the combination, nulls equal to each other
      (tests/generic/unique_combination_of_columns.sql). Both find the repeated values by hash first
      (repeated_keys, macros/test_scope.sql).
    Each failing row is returned once per failed check, with the check's name in `failed_check` (a value repeated
    by n rows fails n rows). Reads what get_where_subquery gives (the last write of the big incremental tables:
    macros/test_scope.sql).
    materialize: read the model once into a materialized CTE that every check reads. For a view whose rows are a
    small aggregate of many (report_daily, monthly_revenue_by_model), computed once instead of once per check; the
    default (inlined) is cheaper for a table, and for a view whose checks need a column or two (DuckDB computes only
    what they read). -#}
{% test row_checks(model, checks, materialize=false) %}
-- inlined unless `materialize`: each check reads the columns it needs (a materialized CTE would copy every column of
-- every row first)
with checked {{ cte_materialized() if materialize else cte_inlined() }} (
    select * from {{ model }}
)
{%- for name, condition in checks.items() %}
{%- set condition = condition | trim %}
{%- set kind = condition.split('(')[0] | trim %}
{%- if kind in ('unique', 'unique_combination') and condition.endswith(')') %}
{%- set columns = condition[condition.index('(') + 1:-1].split(',') | map('trim') | list %}
select '{{ name }}' as failed_check, checked.*
from checked
where exists (
    select 1
    from (
        {{ repeated_keys('checked', columns, nulls_aside=(kind == 'unique')) | indent(8) }}
    ) as repeated
    where {% for column in columns %}repeated.{{ column }} is not distinct from checked.{{ column }}{{ " and " if not loop.last }}{% endfor %}
)
{%- else %}
select '{{ name }}' as failed_check, checked.*
from checked
where not coalesce({{ condition }}, false)
{%- endif %}
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
