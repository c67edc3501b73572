-- Payments per business day: attempts and outcomes, the full/partial/minimum mix of the succeeded
-- ones, failures, returns (refunded or disputed payments, by the day they came back), autopay, the
-- payment rate (succeeded payments over the previous day's outstanding receivables) and autopay
-- uptake (accounts with autopay on over open accounts).
with

days as (
    select balance_date as payment_date, outstanding_balance_cents, open_accounts,
        lag(outstanding_balance_cents) over (order by balance_date) as previous_outstanding_cents
    from {{ ref('rpt_receivables_daily') }}
),

payments as (
    select * from {{ ref('fct_payments') }}
),

attempts as (
    select
        created_date as payment_date,
        count(*)::bigint as payments_count,
        count(*) filter (where status = 'succeeded')::bigint as succeeded_count,
        coalesce(sum(amount_cents) filter (where status = 'succeeded'), 0)::bigint as succeeded_cents,
        count(*) filter (where status = 'failed')::bigint as failed_count,
        coalesce(sum(amount_cents) filter (where status = 'failed'), 0)::bigint as failed_cents,
        count(*) filter (where status = 'pending')::bigint as pending_count,
        count(*) filter (where status = 'succeeded' and payment_kind = 'full')::bigint as full_count,
        count(*) filter (where status = 'succeeded' and payment_kind = 'partial')::bigint as partial_count,
        count(*) filter (where status = 'succeeded' and payment_kind = 'minimum')::bigint as minimum_count,
        count(*) filter (where status = 'succeeded' and payment_kind = 'below_minimum')::bigint
            as below_minimum_count,
        count(*) filter (where status = 'succeeded' and payment_kind = 'no_statement')::bigint
            as no_statement_count,
        count(*) filter (where is_autopay)::bigint as autopay_count,
        coalesce(sum(amount_cents) filter (where is_autopay and status = 'succeeded'), 0)::bigint
            as autopay_succeeded_cents
    from payments
    group by created_date
),

returns as (
    select
        {{ utc_date('created_at') }} as payment_date,
        count(*)::bigint as returned_count,
        sum(amount_cents)::bigint as returned_cents
    from {{ ref('stg_cardportal__payment_postings') }}
    where kind in ('refund', 'dispute')
    group by 1
),

exceptions as (
    select business_date as payment_date, count(*)::bigint as exceptions_count
    from {{ ref('stg_cardportal__payment_exceptions') }}
    group by business_date
),

autopay as (
    select days.payment_date, count(settings.account_id)::bigint as autopay_accounts
    from days
    left join {{ ref('stg_cardportal__autopay_settings') }} as settings
        on settings.is_enabled and {{ utc_date('settings.updated_at') }} <= days.payment_date
    group by days.payment_date
)

select
    days.payment_date,
    coalesce(attempts.payments_count, 0)::bigint as payments_count,
    coalesce(attempts.succeeded_count, 0)::bigint as succeeded_count,
    coalesce(attempts.succeeded_cents, 0)::bigint as succeeded_cents,
    coalesce(attempts.failed_count, 0)::bigint as failed_count,
    coalesce(attempts.failed_cents, 0)::bigint as failed_cents,
    coalesce(attempts.pending_count, 0)::bigint as pending_count,
    coalesce(attempts.full_count, 0)::bigint as full_count,
    coalesce(attempts.partial_count, 0)::bigint as partial_count,
    coalesce(attempts.minimum_count, 0)::bigint as minimum_count,
    coalesce(attempts.below_minimum_count, 0)::bigint as below_minimum_count,
    coalesce(attempts.no_statement_count, 0)::bigint as no_statement_count,
    coalesce(returns.returned_count, 0)::bigint as returned_count,
    coalesce(returns.returned_cents, 0)::bigint as returned_cents,
    coalesce(attempts.autopay_count, 0)::bigint as autopay_count,
    coalesce(attempts.autopay_succeeded_cents, 0)::bigint as autopay_succeeded_cents,
    coalesce(exceptions.exceptions_count, 0)::bigint as exceptions_count,
    round(coalesce(attempts.succeeded_cents, 0)::numeric / nullif(days.previous_outstanding_cents, 0), 4)
        as payment_rate,
    autopay.autopay_accounts,
    days.open_accounts,
    round(autopay.autopay_accounts::numeric / nullif(days.open_accounts, 0), 4) as autopay_uptake_rate
from days
left join attempts using (payment_date)
left join returns using (payment_date)
left join exceptions using (payment_date)
left join autopay using (payment_date)
