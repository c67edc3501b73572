select
    account_id,
    customer_key,
    application_id,
    status,
    credit_limit_cents,
    apr_bps,
    currency,
    billing_cycle_day,
    opened_at,
    {{ utc_date('opened_at') }} as opened_date,
    closed_at
from {{ ref('stg_cardportal__accounts') }}
