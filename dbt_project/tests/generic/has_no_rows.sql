{#- Fails (or warns, with severity: warn) when the model has rows: for tables that list things to act on. -#}
{% test has_no_rows(model) %}
select * from {{ model }}
{% endtest %}
