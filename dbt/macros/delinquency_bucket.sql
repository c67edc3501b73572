{#- The 30-day buckets reported to bureaus (Metro 2). The one definition is api/billing/rules.py
    delinquency_bucket; tests/dbt/test_rules_pinned.py holds this copy to it, day for day. -#}
{% macro delinquency_bucket(days_past_due) -%}
    case
        when {{ days_past_due }} <= 0 then 'current'
        when {{ days_past_due }} < 30 then '1-29'
        when {{ days_past_due }} < 60 then '30-59'
        when {{ days_past_due }} < 90 then '60-89'
        else '90+'
    end
{%- endmacro %}
