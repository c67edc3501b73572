with source as (
    {{ latest_version(source('raw', 'ledger_transfers')) }}
)

select
    id as transfer_id,
    kind,
    state,
    debit_account_id,
    credit_account_id,
    amount as amount_cents,
    currency,
    pending_id,
    reference,
    created_at
from source
