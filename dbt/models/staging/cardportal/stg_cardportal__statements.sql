with source as (
    {{ latest_version(source('raw', 'statements')) }}
)

select
    id as statement_id,
    account_id,
    currency,
    period_start,
    period_end,
    due_date,
    opening_balance as opening_balance_cents,
    purchases as purchases_cents,
    refunds as refunds_cents,
    payments as payments_cents,
    -- Before issue 20 returns were netted inside payments (and the column did not exist).
    coalesce(returned_payments, 0) as returned_payments_cents,
    interest as interest_cents,
    fees as fees_cents,
    closing_balance as closing_balance_cents,
    coalesce(past_due_amount, 0) as past_due_amount_cents,
    minimum_payment as minimum_payment_cents,
    apr_bps,
    credit_limit as credit_limit_cents,
    days_in_period,
    average_daily_balance as average_daily_balance_cents,
    grace_period_applied,
    late_fee_transaction_id,
    late_fee_amount as late_fee_cents,
    created_at
from source
