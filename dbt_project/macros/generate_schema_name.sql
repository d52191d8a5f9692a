{#- Use a folder's custom schema as it is (staging, intermediate, seeds) instead of prefixing the target schema:
    marts stay in `main` so that plain table names resolve for analysts. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
