-- Per business day, the marts' money movements against the ledger's receivable movements, per layer.
-- Posted: every movement the marts know of, by kind: purchases, refunds, payments, returned payments,
-- interest, fees (fct_transactions) and charge-offs (dim_accounts); their sum against the ledger's
-- posted receivable movements. Payments also one by one: fct_payments' succeeded payments against the
-- ledger's payment transfers. Pending: holds opened by approved authorizations, released when they
-- were cleared, reversed or expired. Each difference must be 0.
with

transactions as (
    select * from {{ ref('fct_transactions') }}
),

marts_posted as (
    select
        posted_date as movement_date,
        sum(amount_cents) filter (where transaction_type = 'purchase') as purchases_cents,
        sum(amount_cents) filter (where transaction_type = 'refund') as refunds_cents,
        sum(amount_cents) filter (where transaction_type = 'payment') as payments_cents,
        sum(amount_cents) filter (where transaction_type = 'reversal') as returns_cents,
        sum(amount_cents) filter (where transaction_type = 'interest') as interest_cents,
        sum(amount_cents) filter (where transaction_type = 'fee') as fees_cents,
        sum(balance_effect_cents) as posted_cents
    from transactions where status = 'posted'
    group by posted_date
),

charge_offs as (
    select charged_off_date as movement_date, sum(charged_off_cents) as charge_offs_cents
    from {{ ref('dim_accounts') }}
    where charged_off_date is not null
    group by charged_off_date
),

marts_payments as (
    select succeeded_date as movement_date, sum(amount_cents) as payments_cents
    from {{ ref('fct_payments') }}
    where status = 'succeeded'
    group by succeeded_date
),

marts_pending as (
    select movement_date, sum(held_cents) as pending_cents
    from (
        select created_date as movement_date, held_amount_cents as held_cents
        from transactions where held_amount_cents > 0
        union all
        select resolved_date, -held_amount_cents
        from transactions where held_amount_cents > 0 and resolved_date is not null
    ) as holds
    group by movement_date
),

ledger as (
    select * from {{ ref('int_ledger_movements_daily') }}
),

days as (
    select movement_date from marts_posted
    union
    select movement_date from charge_offs
    union
    select movement_date from marts_payments
    union
    select movement_date from marts_pending
    union
    select movement_date from ledger
),

movements as (
    select
        days.movement_date,
        coalesce(marts_posted.purchases_cents, 0) as purchases_cents,
        coalesce(marts_posted.refunds_cents, 0) as refunds_cents,
        coalesce(marts_posted.payments_cents, 0) as payments_cents,
        coalesce(marts_posted.returns_cents, 0) as returns_cents,
        coalesce(marts_posted.interest_cents, 0) as interest_cents,
        coalesce(marts_posted.fees_cents, 0) as fees_cents,
        coalesce(charge_offs.charge_offs_cents, 0) as charge_offs_cents,
        coalesce(marts_posted.posted_cents, 0) - coalesce(charge_offs.charge_offs_cents, 0) as posted_cents,
        coalesce(marts_payments.payments_cents, 0) as fct_payments_cents,
        coalesce(marts_pending.pending_cents, 0) as pending_cents,
        coalesce(ledger.posted_movement_cents, 0) as ledger_posted_cents,
        coalesce(ledger.payment_movement_cents, 0) as ledger_payments_cents,
        coalesce(ledger.pending_movement_cents, 0) as ledger_pending_cents
    from days
    left join marts_posted using (movement_date)
    left join charge_offs using (movement_date)
    left join marts_payments using (movement_date)
    left join marts_pending using (movement_date)
    left join ledger using (movement_date)
)

select
    movement_date,
    purchases_cents::bigint as purchases_cents,
    refunds_cents::bigint as refunds_cents,
    payments_cents::bigint as payments_cents,
    returns_cents::bigint as returns_cents,
    interest_cents::bigint as interest_cents,
    fees_cents::bigint as fees_cents,
    charge_offs_cents::bigint as charge_offs_cents,
    posted_cents::bigint as marts_posted_cents,
    ledger_posted_cents::bigint as ledger_posted_cents,
    (posted_cents - ledger_posted_cents)::bigint as posted_difference_cents,
    fct_payments_cents::bigint as fct_payments_cents,
    ledger_payments_cents::bigint as ledger_payments_cents,
    (fct_payments_cents - ledger_payments_cents)::bigint as payments_difference_cents,
    pending_cents::bigint as marts_pending_cents,
    ledger_pending_cents::bigint as ledger_pending_cents,
    (pending_cents - ledger_pending_cents)::bigint as pending_difference_cents
from movements
