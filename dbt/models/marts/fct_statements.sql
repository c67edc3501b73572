-- Every closed billing cycle with its figures, and whether its minimum and its balance were paid by
-- the due date (payments posted after the close, up to the end of the due date).
with

statements as (
    select * from {{ ref('stg_cardportal__statements') }}
),

accounts as (
    select account_id, customer_key from {{ ref('stg_cardportal__accounts') }}
),

paid_by_due as (
    select
        statements.statement_id,
        coalesce(sum(transactions.amount_cents), 0)::bigint as paid_by_due_cents
    from statements
    left join {{ ref('int_transactions_classified') }} as transactions
        on transactions.account_id = statements.account_id
        and transactions.transaction_type = 'payment'
        and transactions.status = 'posted'
        and transactions.posted_date > statements.period_end
        and transactions.posted_date <= statements.due_date
    group by statements.statement_id
)

select
    statements.statement_id,
    statements.account_id,
    accounts.customer_key,
    statements.currency,
    statements.period_start,
    statements.period_end,
    statements.due_date,
    statements.days_in_period,
    statements.opening_balance_cents,
    statements.purchases_cents,
    statements.refunds_cents,
    statements.payments_cents,
    statements.returned_payments_cents,
    statements.interest_cents,
    statements.fees_cents,
    statements.closing_balance_cents,
    statements.past_due_amount_cents,
    statements.minimum_payment_cents,
    statements.average_daily_balance_cents,
    statements.apr_bps,
    statements.credit_limit_cents,
    statements.grace_period_applied,
    statements.late_fee_cents,
    statements.late_fee_transaction_id,
    paid_by_due.paid_by_due_cents,
    paid_by_due.paid_by_due_cents >= statements.minimum_payment_cents as is_minimum_met,
    paid_by_due.paid_by_due_cents >= statements.closing_balance_cents as is_paid_in_full
from statements
join paid_by_due using (statement_id)
left join accounts using (account_id)
