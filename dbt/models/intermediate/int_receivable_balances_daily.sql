-- Each account's receivable at the end of each business day since it opened.
with

accounts as (
    select account_id, {{ utc_date('opened_at') }} as opened_date, credit_limit_cents, status
    from {{ ref('stg_cardportal__accounts') }}
),

movements as (
    select
        account_id,
        {{ utc_date('created_at') }} as movement_date,
        sum(amount_cents) filter (where layer = 'posted') as posted_cents,
        sum(amount_cents) filter (where layer = 'pending') as pending_cents
    from {{ ref('stg_cardportal__ledger_entries') }}
    where account_id is not null
    group by 1, 2
),

account_days as (
    select accounts.account_id, accounts.credit_limit_cents, accounts.status, days.date_day
    from accounts
    join {{ ref('int_calendar_days') }} as days on days.date_day >= accounts.opened_date
)

select
    account_days.account_id,
    account_days.date_day,
    account_days.credit_limit_cents,
    account_days.status,
    (sum(coalesce(movements.posted_cents, 0)) over account_history)::bigint as posted_balance_cents,
    (sum(coalesce(movements.pending_cents, 0)) over account_history)::bigint as pending_balance_cents
from account_days
left join movements
    on movements.account_id = account_days.account_id and movements.movement_date = account_days.date_day
window account_history as (partition by account_days.account_id order by account_days.date_day)
