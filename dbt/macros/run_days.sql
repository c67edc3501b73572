{#-
    The days of a run: `dbt build --vars '{"min_date": "…", "max_date": "…"}'` (the Dagster
    partition, or a backfill's range). An incremental model rebuilds only the keys touched on those
    days (extracted in their raw slices), each from its latest version; a first build, a
    `--full-refresh` or a build without days reads everything. Unit tests run the model whole
    (there is no table there to be incremental against).
-#}
{% macro cardportal_run_days() -%}
  {%- if var('min_date', none) is none or var('max_date', none) is none -%}
    {{ return(false) }}
  {%- endif -%}
  {%- if model.resource_type == 'unit_test' or this is none -%}
    {{ return(false) }}
  {%- endif -%}
  {{ return(is_incremental()) }}
{%- endmacro %}

{#- The keys extracted on the run's days from a raw table (each raw slice is the rows touched that day). -#}
{% macro cardportal_touched(raw_relation, key='id') -%}
    select {{ key }} from {{ raw_relation }}
    where _partition_date between cast('{{ var("min_date") }}' as date) and cast('{{ var("max_date") }}' as date)
{%- endmacro %}
