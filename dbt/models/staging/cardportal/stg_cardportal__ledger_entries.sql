-- A table, not a view: read by several intermediate models, marts and tests, deduplicated once.
{{ config(materialized='table') }}

with source as (
    {{ latest_version(source('raw', 'ledger_entries')) }}
)

select
    id as entry_id,
    transfer_id,
    ledger_account_id,
    case when split_part(ledger_account_id, ':', 2) = 'receivable'
        then split_part(ledger_account_id, ':', 1) end as account_id,
    amount as amount_cents,
    layer,
    created_at
from source
