{#- A CTE computed once, whatever reads it (row_checks' `materialize`): DuckDB's `as materialized`; Spark has no such
    hint (a plain CTE). -#}
{% macro cte_materialized() -%}{{ return(adapter.dispatch('cte_materialized')()) }}{%- endmacro %}
{% macro default__cte_materialized() -%}as materialized{%- endmacro %}
{% macro spark__cte_materialized() -%}as{%- endmacro %}
