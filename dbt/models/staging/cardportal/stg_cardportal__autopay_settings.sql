with source as (
    {{ latest_version(source('raw', 'autopay_settings'), 'account_id') }}
)

select
    account_id,
    enabled as is_enabled,
    amount as autopay_amount,
    created_at,
    updated_at
from source
