-- Every transaction that moved or held money (declined authorizations are in fct_authorizations).
-- Incremental by day (delete+insert): a run rebuilds the transactions extracted on its days, each
-- from its latest version; publish copies the same keys into the live marts.fct_transactions.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='transaction_id', on_schema_change='fail') }}
with

transactions as (
    select * from {{ ref('int_transactions_classified') }}
),

accounts as (
    select account_id, customer_key from {{ ref('stg_cardportal__accounts') }}
)

select
    transactions.transaction_id,
    transactions.account_id,
    transactions.card_id,
    accounts.customer_key,
    transactions.transaction_type,
    transactions.status,
    transactions.amount_cents,
    transactions.authorized_amount_cents,
    transactions.held_amount_cents,
    transactions.balance_effect_cents,
    transactions.currency,
    md5(concat_ws('|', transactions.merchant_name, transactions.merchant_mcc, transactions.merchant_country))
        as merchant_key,
    transactions.merchant_mcc,
    transactions.mcc_group,
    transactions.merchant_country,
    transactions.original_transaction_id,
    transactions.closed_reason,
    transactions.created_at,
    transactions.created_date,
    transactions.posted_at,
    transactions.posted_date,
    transactions.resolved_date
from transactions
left join accounts on accounts.account_id = transactions.account_id
where transactions.status <> 'declined'
{%- if cardportal_run_days() %}
    and transactions.transaction_id in ({{ cardportal_touched(source('raw', 'transactions')) }})
{%- endif %}
