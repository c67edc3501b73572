{#-
    Views replaced in place, never dropped: the project's `view` materialization on postgres.

    dbt's default creates `<view>__dbt_tmp`, renames the old view to `<view>__dbt_backup`, renames
    the new one in and then runs `drop view <view>__dbt_backup cascade`. The cascade drops every
    view built on the old one (int_calendar_days reads five staging views, and
    int_receivable_balances_daily reads it), so with two threads two staging views' backups are
    dropped at once, both locking the same dependent views and their rules, in different orders:
    `deadlock detected` (dbt-labs/dbt-core#9246). It also leaves the dependents missing until
    dbt reaches them again, and missing for good if the run stops first.

    Here a view is `create or replace`d in one statement: it keeps its identity, its dependents
    stay valid, nothing is dropped, and it locks only itself. PostgreSQL replaces a view only when
    its columns keep their names, order and types (new ones may be appended); when a model's
    columns changed that way (SQLSTATE 42P16), the old view and its dependents are dropped and it
    is created afresh, as the default would (dbt rebuilds the dependents later in the run).
-#}
{% materialization view, adapter='postgres' %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set grant_config = config.get('grants') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {%- if existing_relation is not none and not existing_relation.is_view %}
    {#- A table (or materialized view) of that name: a change of materialization. -#}
    {{ drop_relation_if_exists(existing_relation) }}
    {%- set existing_relation = none %}
  {%- endif %}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('main') -%}
    {{ cardportal_replace_view(target_relation, sql) }}
  {%- endcall %}

  {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{% macro cardportal_replace_view(relation, sql) -%}
  {%- set sql_header = config.get('sql_header', none) -%}
  {%- set contract_config = config.get('contract') -%}
  {%- if contract_config.enforced -%}
    {{ get_assert_columns_equivalent(sql) }}
  {%- endif %}
  {{ sql_header if sql_header is not none }}
  do $cardportal_view$
  begin
    execute $cardportal_sql$ create or replace view {{ relation.render() }} as (
      {{ sql }}
    ) $cardportal_sql$;
  exception when invalid_table_definition then
    execute $cardportal_sql$ drop view {{ relation.render() }} cascade $cardportal_sql$;
    execute $cardportal_sql$ create view {{ relation.render() }} as (
      {{ sql }}
    ) $cardportal_sql$;
  end
  $cardportal_view$
{%- endmacro %}
