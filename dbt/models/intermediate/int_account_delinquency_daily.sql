-- Each account's days past due at each business day's end, as billing's daily job counts them
-- (api/billing/service.py, delinquency_on): payments meet statement minimums oldest first and only
-- statements closed before them; what a payment has left over once every closed minimum is met
-- pays no later minimum. Days past due run from the due date of the oldest minimum still unmet
-- after its due date; nothing owed is never delinquent.
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

payments as (
    select
        transactions.account_id,
        transactions.transaction_id,
        transactions.posted_at,
        transactions.posted_date,
        transactions.amount_cents,
        coalesce((
            select max(statements.cumulative_minimum_cents)
            from statements
            where statements.account_id = transactions.account_id
                and statements.period_end < transactions.posted_date
        ), 0) as cap_cents,
        sum(transactions.amount_cents) over (
            partition by transactions.account_id
            order by transactions.posted_at, transactions.transaction_id
            rows between unbounded preceding and current row
        ) as paid_cents
    from {{ ref('int_transactions_classified') }} as transactions
    where transactions.transaction_type = 'payment' and transactions.status = 'posted'
),

applied as (
    select
        account_id,
        posted_date,
        paid_cents + least(0, min(cap_cents - paid_cents) over (
            partition by account_id order by posted_at, transaction_id
            rows between unbounded preceding and current row
        )) as applied_cents
    from payments
),

applied_daily as (
    select account_id, posted_date, max(applied_cents) as applied_cents
    from applied
    group by account_id, posted_date
),

account_days as (
    select
        balances.account_id,
        balances.date_day,
        balances.posted_balance_cents,
        coalesce((
            select max(applied_daily.applied_cents)
            from applied_daily
            where applied_daily.account_id = balances.account_id and applied_daily.posted_date <= balances.date_day
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
