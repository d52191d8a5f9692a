{#- dbt's seed materialization (dbt/include/global_project/macros/materializations/seeds/seed.sql) on DuckDB, with one
    addition: a seed whose table already holds this very CSV is not loaded again. Every build used to reload all
    eight seeds (about 0.17 CPU s each: the CSV parsed by agate in Python, then the table rewritten) for nothing new.
    The table's comment keeps the fingerprint of what loaded it: the CSV's sha256 (dbt's checksum of the file) and
    the seed's column_types. A changed CSV or column type, a missing table, a table without that comment, or
    `--full-refresh` loads it as dbt always does. (A seed table edited by hand in the warehouse is not noticed:
    `dbt build --full-refresh --select <seed>` restores it.) -#}
{% macro seed_fingerprint() -%}
    {%- if model.checksum.name != 'sha256' -%}{{ return(none) }}{%- endif -%}
    {{ return('dbt seed ' ~ local_md5(model.checksum.checksum ~ tojson(config.get('column_types') or {}))) }}
{%- endmacro %}

{% materialization seed, adapter='duckdb' %}

  {%- set identifier = model['alias'] -%}
  {%- set full_refresh_mode = (should_full_refresh()) -%}

  {%- set old_relation = adapter.get_relation(database=database, schema=schema, identifier=identifier) -%}

  {%- set exists_as_table = (old_relation is not none and old_relation.is_table) -%}
  {%- set exists_as_view = (old_relation is not none and old_relation.is_view) -%}

  {%- set fingerprint = seed_fingerprint() -%}
  {%- set loaded = none -%}
  {%- if exists_as_table and fingerprint and not full_refresh_mode -%}
    {%- set loaded = run_query("select comment from duckdb_tables() where database_name = '" ~ old_relation.database
                               ~ "' and schema_name = '" ~ old_relation.schema ~ "' and table_name = '"
                               ~ old_relation.identifier ~ "'").columns[0].values() | first -%}
  {%- endif -%}

  {%- if loaded is not none and loaded == fingerprint -%}
    {#- the table holds this CSV already (dbt's seed runner reads an agate table: an empty one) -#}
    {%- do store_result('agate_table', response='OK') -%}
    {% call noop_statement('main', 'UNCHANGED 0', 'UNCHANGED', 0) %}
      select 1;
    {% endcall %}
    {{ return({'relations': [this.incorporate(type='table')]}) }}
  {%- endif -%}

  {%- set grant_config = config.get('grants') -%}
  {%- set agate_table = load_agate_table() -%}
  -- grab current tables grants config for comparison later on

  {%- do store_result('agate_table', response='OK', agate_table=agate_table) -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}

  -- `BEGIN` happens here:
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  -- build model
  {% set create_table_sql = "" %}
  {% if exists_as_view %}
    {{ exceptions.raise_compiler_error("Cannot seed to '{}', it is a view".format(old_relation.render())) }}
  {% elif exists_as_table %}
    {% set create_table_sql = reset_csv_table(model, full_refresh_mode, old_relation, agate_table) %}
  {% else %}
    {% set create_table_sql = create_csv_table(model, agate_table) %}
  {% endif %}

  {% set code = 'CREATE' if full_refresh_mode else 'INSERT' %}
  {% set rows_affected = (agate_table.rows | length) %}
  {% set sql = "" %}
  {% if rows_affected > 0 %}
    {% set sql = load_csv_rows(model, agate_table) %}
  {% endif %}

  {% call noop_statement('main', code ~ ' ' ~ rows_affected, code, rows_affected) %}
    {{ get_csv_sql(create_table_sql, sql) }};
  {% endcall %}

  {% set target_relation = this.incorporate(type='table') %}

  {% set should_revoke = should_revoke(old_relation, full_refresh_mode) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}

  {% do persist_docs(target_relation, model) %}

  {% if full_refresh_mode or not exists_as_table %}
    {% do create_indexes(target_relation) %}
  {% endif %}

  {#- what loaded the table (empty when the CSV cannot be fingerprinted: then it is loaded on every build) -#}
  {% call statement('seed_fingerprint') %}
    comment on table {{ target_relation }} is '{{ fingerprint or "" }}'
  {% endcall %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}

  -- `COMMIT` happens here
  {{ adapter.commit() }}

  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
