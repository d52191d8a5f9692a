{#- No two rows share the combination of columns, nulls equal to each other: the repeated combinations, with the rows
    holding each (`occurrences`). Found by hash first (repeated_keys, macros/test_scope.sql). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
{{ repeated_keys(model, combination_of_columns) }}
{% endtest %}
