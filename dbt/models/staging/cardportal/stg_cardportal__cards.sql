with source as (
    {{ latest_version(source('raw', 'cards')) }}
)

select
    id as card_id,
    account_id,
    customer_key,
    exp_month,
    exp_year,
    status,
    has_spending_controls,
    created_at
from source
