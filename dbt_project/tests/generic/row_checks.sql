{#- Several single-row checks of one table in one scan (one test node instead of one per check): `checks` maps a
    name to a SQL condition every row must meet (a null result fails, as in not_null). Each failing row is returned
    once per failed check, with the check's name in `failed_check`. Reads what get_where_subquery gives (the last
    write of the big incremental tables: macros/test_scope.sql). -#}
{% test row_checks(model, checks) %}
with checked as (
    select * from {{ model }}
)
{%- for name, condition in checks.items() %}
select '{{ name }}' as failed_check, checked.*
from checked
where not coalesce({{ condition }}, false)
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
