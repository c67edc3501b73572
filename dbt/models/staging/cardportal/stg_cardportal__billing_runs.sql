with source as (
    {{ latest_version(source('raw', 'billing_runs')) }}
)

select
    id as billing_run_id,
    day as run_date,
    started_at,
    finished_at,
    counts,
    created_at,
    -- Null on rows extracted before the column existed: those runs recorded nothing.
    coalesce(delinquency_recorded, false) as delinquency_recorded
from source
