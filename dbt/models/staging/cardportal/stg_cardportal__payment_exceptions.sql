with source as (
    {{ latest_version(source('raw', 'payment_exceptions')) }}
)

select
    id as payment_exception_id,
    business_date,
    payment_id,
    kind,
    expected,
    actual,
    created_at
from source
