{#- No two rows share the combination of columns, nulls equal to each other: the repeated combinations, with the rows
    holding each (`occurrences`). Found by hash first (repeated_keys, macros/test_scope.sql). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as occurrences
from {{ model }}
where hash({{ combination_of_columns | join(', ') }}) in (
    select hash({{ combination_of_columns | join(', ') }})
    from {{ model }}
    group by hash({{ combination_of_columns | join(', ') }})
    having count(*) > 1
)
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
