{#- The platform's business day of a timestamp: its UTC date. -#}
{% macro utc_date(column) -%}
    ({{ column }} at time zone 'utc')::date
{%- endmacro %}
