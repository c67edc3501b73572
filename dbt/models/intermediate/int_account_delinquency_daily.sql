-- A table: rpt_delinquency reads it twice (buckets and month ends).
{{ config(materialized='table') }}

-- Each account's days past due at each business day's end, as billing's daily job computed them:
-- its own record (stg_cardportal__delinquency_days, api/billing/service.py delinquency_on and
-- carry_unchanged_delinquencies), not a second derivation. The record holds the delinquent
-- accounts only: an account without a row on a day the job recorded was current.
--
-- Only the days the record covers have rows: from the first run that recorded delinquency
-- (every run since migration 0016; before it, nothing is known) through the last finished run.
with

recorded_days as (
    select
        min(run_date) filter (where delinquency_recorded) as first_day,
        max(run_date) as last_day
    from {{ ref('stg_cardportal__billing_runs') }}
    where finished_at is not null
)

select
    balances.account_id,
    balances.date_day,
    balances.posted_balance_cents,
    coalesce(record.days_past_due, 0) as days_past_due,
    coalesce(record.past_due_cents, 0)::bigint as past_due_cents,
    coalesce(record.delinquency_bucket, 'current') as delinquency_bucket
from {{ ref('int_receivable_balances_daily') }} as balances
join recorded_days
    on balances.date_day between recorded_days.first_day and recorded_days.last_day
left join {{ ref('stg_cardportal__delinquency_days') }} as record
    on record.account_id = balances.account_id
    and record.date_day = balances.date_day
    -- The day of a charge-off: the job recorded what it wrote off (180 days past due), and the day
    -- ends with nothing owed; the account leaves the buckets (rpt_delinquency counts it charged off).
    and balances.posted_balance_cents > 0
