-- The daily job's record: one row per delinquent account and day (api/billing/models.py,
-- DelinquencyDay). A day's slice is that day's record, replaced whole when the day is extracted
-- again, so each (account, day) is in one slice only: no versions to pick from.
select
    account_id,
    day as date_day,
    days_past_due,
    past_due_amount as past_due_cents,
    bucket as delinquency_bucket
from {{ source('raw', 'delinquency_days') }}
