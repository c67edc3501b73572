-- Transactions with their MCC group, business days, and their effect on the balance and on holds.
with

transactions as (
    select * from {{ ref('stg_cardportal__transactions') }}
),

mcc_groups as (
    select * from {{ ref('mcc_groups') }}
)

select
    transactions.*,
    coalesce(mcc_groups.mcc_group, 'other') as mcc_group,
    {{ utc_date('transactions.created_at') }} as created_date,
    {{ utc_date('transactions.posted_at') }} as posted_date,
    {{ utc_date('transactions.resolved_at') }} as resolved_date,
    -- What posting did to the receivable: purchases, interest, fees and returned payments (type
    -- `reversal`: a refunded or disputed payment re-debited) raise it; refunds and payments lower it.
    -- On a charged-off account a credit is then booked as a recovery (`recovery` raises the
    -- receivable back to zero against the recoveries account) and undone when the payment is
    -- taken back (`recovery_return` lowers it): api.billing.recoveries.
    case
        when transactions.status <> 'posted' then 0
        else {{ balance_sign('transactions.transaction_type') }} * transactions.amount_cents
    end::bigint as balance_effect_cents,
    -- An approved authorization held its authorized amount until cleared, reversed or expired.
    case when transactions.hold_transfer_id is not null
        then transactions.authorized_amount_cents else 0 end::bigint as held_amount_cents
from transactions
left join mcc_groups on mcc_groups.mcc = transactions.merchant_mcc
