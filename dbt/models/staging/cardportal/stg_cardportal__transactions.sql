-- A table, not a view: read by several intermediate models, marts and tests, deduplicated once.
{{ config(materialized='table') }}

with source as (
    {{ latest_version(source('raw', 'transactions')) }}
)

select
    id as transaction_id,
    account_id,
    card_id,
    type as transaction_type,
    status,
    amount as amount_cents,
    authorized_amount as authorized_amount_cents,
    currency,
    merchant_name,
    merchant_mcc,
    merchant_country,
    decline_code,
    closed_reason,
    original_transaction_id,
    refunded_amount as refunded_amount_cents,
    hold_transfer_id,
    posting_transfer_id,
    created_at,
    posted_at,
    resolved_at
from source
