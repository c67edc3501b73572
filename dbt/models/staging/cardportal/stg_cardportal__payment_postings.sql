with source as (
    {{ latest_version(source('raw', 'payment_postings')) }}
)

select
    id as payment_posting_id,
    payment_id,
    kind,
    amount as amount_cents,
    ledger_transfer_id,
    created_at
from source
