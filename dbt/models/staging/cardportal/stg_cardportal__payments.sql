with source as (
    {{ latest_version(source('raw', 'payments')) }}
)

select
    id as payment_id,
    account_id,
    customer_key,
    initiated_by,
    request_id,
    amount as amount_cents,
    currency,
    status,
    failure_code,
    returned_amount as returned_amount_cents,
    transaction_id,
    created_at,
    updated_at,
    succeeded_at
from source
