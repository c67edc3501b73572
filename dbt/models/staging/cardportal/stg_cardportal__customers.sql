with source as (
    {{ latest_version(source('raw', 'customers'), 'customer_key') }}
)

select
    customer_key,
    signed_up_at,
    age_band
from source
