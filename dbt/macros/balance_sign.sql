{#- The sign of a transaction type on what the customer owes, once posted: 1 raises it, -1 lowers
    it, 0 for a type it does not know. The one definition is api/billing/rules.py BALANCE_SIGN;
    tests/dbt/test_rules_pinned.py holds this copy to it, type for type. -#}
{% macro balance_sign(transaction_type) -%}
    case
        when {{ transaction_type }} in ('purchase', 'interest', 'fee', 'reversal', 'recovery') then 1
        when {{ transaction_type }} in ('refund', 'payment', 'recovery_return') then -1
        else 0
    end
{%- endmacro %}
