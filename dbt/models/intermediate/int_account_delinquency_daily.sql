-- A table: rpt_delinquency reads it twice (buckets and month ends).
{{ config(materialized='table') }}

-- Each account's days past due at each business day's end, as billing's daily job counts them
-- (api/billing/service.py, delinquency_on): payments meet statement minimums oldest first and only
-- statements closed before them; what a payment has left over once every closed minimum is met
-- pays no later minimum. Days past due run from the due date of the oldest minimum still unmet
-- after its due date; nothing owed is never delinquent. A payment counts net of what was returned
-- of it by the day's end (api/billing: a returned payment pays nothing).
--
-- The allocation is the running sum of payments capped by the minimums closed so far:
--   applied_i = min(applied_(i-1) + paid_i, cap_i)  (cap_i: the minimums of statements closed before it)
-- whose closed form is  applied_i = P_i + min(0, min over j <= i of (cap_j - P_j)),  P the running total.
with

statements as (
    select
        account_id,
        statement_id,
        period_end,
        due_date,
        minimum_payment_cents,
        sum(minimum_payment_cents) over (
            partition by account_id order by period_end rows between unbounded preceding and current row
        ) as cumulative_minimum_cents
    from {{ ref('stg_cardportal__statements') }}
),

payments_posted as (
    select
        transactions.account_id,
        transactions.transaction_id,
        transactions.posted_at,
        transactions.posted_date,
        transactions.amount_cents
    from {{ ref('int_transactions_classified') }} as transactions
    where transactions.transaction_type = 'payment' and transactions.status = 'posted'
),

-- A returned payment (a `reversal` naming it) pays only what was not taken back, as billing counts
-- it on a day: net of the returns posted by that day's end.
returns as (
    select account_id, original_transaction_id as payment_id, posted_date, amount_cents
    from {{ ref('int_transactions_classified') }}
    where transaction_type = 'reversal' and status = 'posted' and original_transaction_id is not null
),

-- Each day a return posts starts a new view of the account's payments (an epoch); between
-- returns the view is fixed, so the allocation below is computed once per epoch, not per day.
epoch_starts as (
    select distinct account_id, date '0001-01-01' as epoch_start from payments_posted
    union
    select account_id, posted_date from returns
),

epochs as (
    select
        account_id,
        epoch_start,
        lead(epoch_start) over (partition by account_id order by epoch_start) as epoch_end
    from epoch_starts
),

payments as (
    select
        payments_posted.account_id,
        epochs.epoch_start,
        epochs.epoch_end,
        payments_posted.transaction_id,
        payments_posted.posted_at,
        payments_posted.posted_date,
        coalesce((
            select max(statements.cumulative_minimum_cents)
            from statements
            where statements.account_id = payments_posted.account_id
                and statements.period_end < payments_posted.posted_date
        ), 0) as cap_cents,
        sum(greatest(payments_posted.amount_cents - coalesce((
            select sum(returns.amount_cents)
            from returns
            where returns.payment_id = payments_posted.transaction_id and returns.posted_date <= epochs.epoch_start
        ), 0), 0)) over (
            partition by payments_posted.account_id, epochs.epoch_start
            order by payments_posted.posted_at, payments_posted.transaction_id
            rows between unbounded preceding and current row
        ) as paid_cents
    from payments_posted
    join epochs on epochs.account_id = payments_posted.account_id
),

applied as (
    select
        account_id,
        epoch_start,
        epoch_end,
        posted_date,
        paid_cents + least(0, min(cap_cents - paid_cents) over (
            partition by account_id, epoch_start order by posted_at, transaction_id
            rows between unbounded preceding and current row
        )) as applied_cents
    from payments
),

-- Materialized: read by a correlated subquery per account-day below, which would otherwise
-- recompute the payments' allocation (windows over every payment) for each of them.
applied_daily as materialized (
    select account_id, epoch_start, epoch_end, posted_date, max(applied_cents) as applied_cents
    from applied
    group by account_id, epoch_start, epoch_end, posted_date
),

account_days as (
    select
        balances.account_id,
        balances.date_day,
        balances.posted_balance_cents,
        coalesce((
            select max(applied_daily.applied_cents)
            from applied_daily
            where applied_daily.account_id = balances.account_id
                and applied_daily.posted_date <= balances.date_day
                and applied_daily.epoch_start <= balances.date_day
                and (applied_daily.epoch_end is null or balances.date_day < applied_daily.epoch_end)
        ), 0) as applied_cents
    from {{ ref('int_receivable_balances_daily') }} as balances
),

late as (
    select
        account_days.account_id,
        account_days.date_day,
        min(statements.due_date) as oldest_unmet_due_date,
        sum(least(
            statements.minimum_payment_cents, statements.cumulative_minimum_cents - account_days.applied_cents
        )) as past_due_cents
    from account_days
    join statements
        on statements.account_id = account_days.account_id
        and statements.period_end <= account_days.date_day
        and statements.due_date < account_days.date_day
        and statements.minimum_payment_cents > 0
        and statements.cumulative_minimum_cents > account_days.applied_cents
    where account_days.posted_balance_cents > 0
    group by account_days.account_id, account_days.date_day
),

scored as (
    select
        account_days.account_id,
        account_days.date_day,
        account_days.posted_balance_cents,
        coalesce(account_days.date_day - late.oldest_unmet_due_date, 0) as days_past_due,
        coalesce(late.past_due_cents, 0)::bigint as past_due_cents
    from account_days
    left join late using (account_id, date_day)
)

select
    account_id,
    date_day,
    posted_balance_cents,
    days_past_due,
    past_due_cents,
    {{ delinquency_bucket('days_past_due') }} as delinquency_bucket
from scored
