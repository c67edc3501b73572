{#-
    Tables that views are built on are refreshed in place: the project's `table` materialization
    on postgres.

    dbt's default builds `<table>__dbt_tmp`, renames the old table to `<table>__dbt_backup`, renames
    the new one in, and runs `drop table <table>__dbt_backup cascade`: every view on the old table
    goes with it (stg_cardportal__ledger_entries and stg_cardportal__transactions carry all four
    intermediate views), two threads dropping two such backups lock the same views in different
    orders (`deadlock detected`, dbt-labs/dbt-core#9246), and the views stay missing until dbt
    reaches them again. A table with dependent views and unchanged columns (names, order, types)
    is instead emptied and filled in one transaction (`truncate` + `insert`): the views stay valid
    and nothing is dropped. Any other table (the marts, which nothing is built on, a contract, a
    changed column list, a first build) takes dbt's default path.
-#}
{% materialization table, adapter='postgres' %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set contract_config = config.get('contract') -%}
  {%- if existing_relation is not none and existing_relation.is_table and not contract_config.enforced
        and cardportal_refresh_in_place(existing_relation, sql) -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}
    {% call statement('main') -%}
      truncate {{ existing_relation.render() }};
      insert into {{ existing_relation.render() }} select * from (
        {{ sql }}
      ) as model_rows
    {%- endcall %}
    {% do apply_grants(existing_relation, config.get('grants'), should_revoke=should_revoke(existing_relation, full_refresh_mode=True)) %}
    {% do persist_docs(existing_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [existing_relation]}) }}
  {%- endif -%}
  {{ return(materialization_table_default()) }}
{% endmaterialization %}


{#- Whether views are built on `relation` and the model's query gives its columns unchanged. -#}
{% macro cardportal_refresh_in_place(relation, sql) -%}
  {%- set target = relation.include(database=False).render() -%}
  {%- set dependents -%}
    select exists (
      select 1 from pg_depend d join pg_rewrite r on r.oid = d.objid
      where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
        and d.refobjid = '{{ target }}'::regclass and r.ev_class <> d.refobjid
    )
  {%- endset -%}
  {%- if not run_query(dependents).columns[0].values()[0] -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set shape -%}
    create temporary table cardportal_model_shape on commit drop as
      select * from (
        {{ sql }}
      ) as model_rows limit 0;
    select (
      select array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum)
      from pg_attribute where attrelid = 'pg_temp.cardportal_model_shape'::regclass and attnum > 0 and not attisdropped
    ) = (
      select array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum)
      from pg_attribute where attrelid = '{{ target }}'::regclass and attnum > 0 and not attisdropped
    )
  {%- endset -%}
  {%- set same = run_query(shape).columns[0].values()[0] -%}
  {%- do run_query('drop table if exists pg_temp.cardportal_model_shape') -%}
  {{ return(same) }}
{%- endmacro %}
