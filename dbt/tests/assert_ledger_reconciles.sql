-- Severity warn: the blocking gate is the Great Expectations reconciliation check in Dagster.
{{ config(severity='warn') }}
select * from {{ ref('rpt_ledger_reconciliation') }}
where posted_difference_cents <> 0 or pending_difference_cents <> 0 or payments_difference_cents <> 0
