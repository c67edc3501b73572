{#- A payment against the statement it pays: the whole balance, more than the minimum, exactly
    the minimum, less than it; no statement closed yet. -#}
{% macro payment_kind(amount, statement_balance, statement_minimum) -%}
    case
        when {{ statement_balance }} is null then 'no_statement'
        when {{ amount }} >= {{ statement_balance }} then 'full'
        when {{ amount }} > {{ statement_minimum }} then 'partial'
        when {{ amount }} = {{ statement_minimum }} then 'minimum'
        else 'below_minimum'
    end
{%- endmacro %}
