-- Outstanding receivables and utilisation at each business day's end.
select
    date_day as balance_date,
    sum(posted_balance_cents)::bigint as outstanding_balance_cents,
    sum(pending_balance_cents)::bigint as pending_holds_cents,
    sum(credit_limit_cents) filter (where status = 'active')::bigint as total_credit_limit_cents,
    round(
        sum(posted_balance_cents + pending_balance_cents)::numeric
        / nullif(sum(credit_limit_cents) filter (where status = 'active'), 0), 4
    ) as utilisation_rate,
    count(*) filter (where posted_balance_cents > 0)::bigint as accounts_with_balance,
    count(*)::bigint as open_accounts
from {{ ref('int_receivable_balances_daily') }}
group by date_day
