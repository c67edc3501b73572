-- Every purchase authorization the network asked for, approved or declined (with its code).
-- Incremental by day (delete+insert), as fct_transactions.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='authorization_id', on_schema_change='fail') }}
select
    transaction_id as authorization_id,
    account_id,
    card_id,
    authorized_amount_cents as amount_cents,
    currency,
    status <> 'declined' as is_approved,
    decline_code,
    status as outcome,
    closed_reason,
    merchant_mcc,
    mcc_group,
    merchant_country,
    created_at as authorized_at,
    created_date as authorized_date
from {{ ref('int_transactions_classified') }}
where transaction_type = 'purchase'
{%- if cardportal_run_days() %}
    and transaction_id in ({{ cardportal_touched(source('raw', 'transactions')) }})
{%- endif %}
