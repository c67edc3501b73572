with source as (
    {{ latest_version(source('raw', 'applications')) }}
)

select
    id as application_id,
    customer_key,
    status,
    employment_status,
    applicant_age_band,
    requested_credit_limit as requested_credit_limit_cents,
    credit_score,
    dti_bps,
    credit_limit as credit_limit_cents,
    apr_bps,
    reasons,
    account_id,
    decided_at,
    created_at
from source
