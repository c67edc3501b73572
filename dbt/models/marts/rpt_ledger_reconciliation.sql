-- Per business day, the marts' money movements against the ledger's receivable movements, per layer.
-- Posted: what fct_transactions says posting did to balances. Pending: holds opened by approved
-- authorizations, released when they were cleared, reversed or expired. Each difference must be 0.
with

transactions as (
    select * from {{ ref('fct_transactions') }}
),

marts_posted as (
    select posted_date as movement_date, sum(balance_effect_cents) as posted_cents
    from transactions where status = 'posted'
    group by posted_date
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
    select movement_date from marts_pending
    union
    select movement_date from ledger
)

select
    days.movement_date,
    coalesce(marts_posted.posted_cents, 0)::bigint as marts_posted_cents,
    coalesce(ledger.posted_movement_cents, 0)::bigint as ledger_posted_cents,
    (coalesce(marts_posted.posted_cents, 0) - coalesce(ledger.posted_movement_cents, 0))::bigint
        as posted_difference_cents,
    coalesce(marts_pending.pending_cents, 0)::bigint as marts_pending_cents,
    coalesce(ledger.pending_movement_cents, 0)::bigint as ledger_pending_cents,
    (coalesce(marts_pending.pending_cents, 0) - coalesce(ledger.pending_movement_cents, 0))::bigint
        as pending_difference_cents
from days
left join marts_posted using (movement_date)
left join marts_pending using (movement_date)
left join ledger using (movement_date)
