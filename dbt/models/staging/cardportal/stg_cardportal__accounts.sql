with source as (
    {{ latest_version(source('raw', 'accounts')) }}
)

select
    id as account_id,
    customer_key,
    application_id,
    status,
    credit_limit as credit_limit_cents,
    apr_bps,
    currency,
    billing_cycle_day,
    opened_at,
    closed_at,
    created_at
from source
