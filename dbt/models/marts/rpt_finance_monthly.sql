-- The receivables roll-forward a controller signs, per month:
--   opening + purchases - refunds - payments + returned payments + interest + fees
--   - charge-offs + recoveries - recoveries returned = closing.
-- Opening and closing are the ledger's posted customer receivables at the previous month's end
-- and at this month's end. Each line is taken twice: from the marts (fct_transactions by type,
-- charge-offs from dim_accounts) and from the ledger (the posted receivable entries of the
-- transfers that posted transactions of that type; charge-off transfers), and each pair must
-- be equal to the cent. `roll_forward_difference_cents` (the lines against the ledger's own
-- opening and closing) and `unmatched_ledger_cents` (receivable movements no line explains)
-- must be 0 too: Great Expectations checks all of them before the marts are published.
with

months as (
    select distinct date_trunc('month', date_day)::date as period_start
    from {{ ref('int_calendar_days') }}
),

marts_lines as (
    select
        date_trunc('month', posted_date)::date as period_start,
        sum(amount_cents) filter (where transaction_type = 'purchase') as purchases_cents,
        sum(amount_cents) filter (where transaction_type = 'refund') as refunds_cents,
        sum(amount_cents) filter (where transaction_type = 'payment') as payments_cents,
        sum(amount_cents) filter (where transaction_type = 'reversal') as returned_payments_cents,
        sum(amount_cents) filter (where transaction_type = 'interest') as interest_cents,
        sum(amount_cents) filter (where transaction_type = 'fee') as fees_cents,
        sum(amount_cents) filter (where transaction_type = 'recovery') as recoveries_cents,
        sum(amount_cents) filter (where transaction_type = 'recovery_return') as recoveries_returned_cents
    from {{ ref('fct_transactions') }}
    where status = 'posted'
    group by 1
),

marts_charge_offs as (
    select date_trunc('month', charged_off_date)::date as period_start, sum(charged_off_cents) as charge_offs_cents
    from {{ ref('dim_accounts') }}
    where charged_off_date is not null
    group by 1
),

-- Which line each posting transfer belongs to: the type of the transaction it posted.
posting_types as (
    select posting_transfer_id as transfer_id, min(transaction_type) as line
    from {{ ref('stg_cardportal__transactions') }}
    where posting_transfer_id is not null and status = 'posted'
    group by posting_transfer_id
),

ledger_entries as (
    select
        date_trunc('month', {{ utc_date('entries.created_at') }})::date as period_start,
        entries.amount_cents,
        coalesce(
            posting_types.line, case when transfers.kind = 'charge_off' then 'charge_off' end, 'unmatched'
        ) as line
    from {{ ref('stg_cardportal__ledger_entries') }} as entries
    join {{ ref('stg_cardportal__ledger_transfers') }} as transfers using (transfer_id)
    left join posting_types using (transfer_id)
    where entries.account_id is not null and entries.layer = 'posted'
),

-- The ledger's lines, signed as the roll-forward shows them (a receivable's debit is positive).
ledger_lines as (
    select
        period_start,
        sum(amount_cents) as movement_cents,
        sum(amount_cents) filter (where line = 'purchase') as purchases_cents,
        -sum(amount_cents) filter (where line = 'refund') as refunds_cents,
        -sum(amount_cents) filter (where line = 'payment') as payments_cents,
        sum(amount_cents) filter (where line = 'reversal') as returned_payments_cents,
        sum(amount_cents) filter (where line = 'interest') as interest_cents,
        sum(amount_cents) filter (where line = 'fee') as fees_cents,
        -sum(amount_cents) filter (where line = 'charge_off') as charge_offs_cents,
        sum(amount_cents) filter (where line = 'recovery') as recoveries_cents,
        -sum(amount_cents) filter (where line = 'recovery_return') as recoveries_returned_cents,
        sum(amount_cents) filter (where line not in (
            'purchase', 'refund', 'payment', 'reversal', 'interest', 'fee', 'charge_off', 'recovery',
            'recovery_return'
        )) as unmatched_cents
    from ledger_entries
    group by period_start
),

joined as (
    select
        months.period_start,
        coalesce(marts_lines.purchases_cents, 0) as purchases_cents,
        coalesce(marts_lines.refunds_cents, 0) as refunds_cents,
        coalesce(marts_lines.payments_cents, 0) as payments_cents,
        coalesce(marts_lines.returned_payments_cents, 0) as returned_payments_cents,
        coalesce(marts_lines.interest_cents, 0) as interest_cents,
        coalesce(marts_lines.fees_cents, 0) as fees_cents,
        coalesce(marts_charge_offs.charge_offs_cents, 0) as charge_offs_cents,
        coalesce(marts_lines.recoveries_cents, 0) as recoveries_cents,
        coalesce(marts_lines.recoveries_returned_cents, 0) as recoveries_returned_cents,
        coalesce(ledger_lines.movement_cents, 0) as ledger_movement_cents,
        coalesce(ledger_lines.purchases_cents, 0) as ledger_purchases_cents,
        coalesce(ledger_lines.refunds_cents, 0) as ledger_refunds_cents,
        coalesce(ledger_lines.payments_cents, 0) as ledger_payments_cents,
        coalesce(ledger_lines.returned_payments_cents, 0) as ledger_returned_payments_cents,
        coalesce(ledger_lines.interest_cents, 0) as ledger_interest_cents,
        coalesce(ledger_lines.fees_cents, 0) as ledger_fees_cents,
        coalesce(ledger_lines.charge_offs_cents, 0) as ledger_charge_offs_cents,
        coalesce(ledger_lines.recoveries_cents, 0) as ledger_recoveries_cents,
        coalesce(ledger_lines.recoveries_returned_cents, 0) as ledger_recoveries_returned_cents,
        coalesce(ledger_lines.unmatched_cents, 0) as unmatched_ledger_cents
    from months
    left join marts_lines using (period_start)
    left join marts_charge_offs using (period_start)
    left join ledger_lines using (period_start)
),

balances as (
    select
        *,
        sum(ledger_movement_cents) over (order by period_start) as closing_cents
    from joined
)

select
    period_start,
    (closing_cents - ledger_movement_cents)::bigint as opening_receivables_cents,
    purchases_cents::bigint as purchases_cents,
    refunds_cents::bigint as refunds_cents,
    payments_cents::bigint as payments_cents,
    returned_payments_cents::bigint as returned_payments_cents,
    interest_cents::bigint as interest_cents,
    fees_cents::bigint as fees_cents,
    charge_offs_cents::bigint as charge_offs_cents,
    recoveries_cents::bigint as recoveries_cents,
    recoveries_returned_cents::bigint as recoveries_returned_cents,
    closing_cents::bigint as closing_receivables_cents,
    (
        closing_cents - ledger_movement_cents + purchases_cents - refunds_cents - payments_cents
        + returned_payments_cents + interest_cents + fees_cents - charge_offs_cents + recoveries_cents
        - recoveries_returned_cents - closing_cents
    )::bigint as roll_forward_difference_cents,
    (purchases_cents - ledger_purchases_cents)::bigint as purchases_difference_cents,
    (refunds_cents - ledger_refunds_cents)::bigint as refunds_difference_cents,
    (payments_cents - ledger_payments_cents)::bigint as payments_difference_cents,
    (returned_payments_cents - ledger_returned_payments_cents)::bigint as returned_payments_difference_cents,
    (interest_cents - ledger_interest_cents)::bigint as interest_difference_cents,
    (fees_cents - ledger_fees_cents)::bigint as fees_difference_cents,
    (charge_offs_cents - ledger_charge_offs_cents)::bigint as charge_offs_difference_cents,
    (recoveries_cents - ledger_recoveries_cents)::bigint as recoveries_difference_cents,
    (recoveries_returned_cents - ledger_recoveries_returned_cents)::bigint
        as recoveries_returned_difference_cents,
    unmatched_ledger_cents::bigint as unmatched_ledger_cents
from balances
