-- What each charged-off account recovered per business day: the credits that reached it after its
-- charge-off, booked against the loss (`recovery`), net of those taken back when Stripe returned the
-- payment (`recovery_return`). FFIEC Call Report, Schedule RI-B Part I, column B ("amounts recovered
-- [...] on loans and leases previously charged off"); api.billing.recoveries.
select
    account_id,
    posted_date as recovery_date,
    sum(case when transaction_type = 'recovery' then amount_cents else -amount_cents end)::bigint
        as recoveries_cents
from {{ ref('int_transactions_classified') }}
where status = 'posted' and transaction_type in ('recovery', 'recovery_return')
group by account_id, posted_date
