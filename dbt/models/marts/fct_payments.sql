-- Every payment towards a card account: who started it, its outcome, what was returned, and how it
-- compares with the statement it paid (the latest one closed before it): full, partial, minimum,
-- below_minimum, or no_statement.
-- Incremental by day (delete+insert): a run rebuilds the payments extracted on its days and those
-- whose refunds or disputes were (a return also touches the payment, this is belt and braces).
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='payment_id', on_schema_change='fail') }}
with

payments as (
    select * from {{ ref('stg_cardportal__payments') }}
    {%- if cardportal_run_days() %}
    where payment_id in (
        {{ cardportal_touched(source('raw', 'payments')) }}
        union
        {{ cardportal_touched(source('raw', 'payment_postings'), key='payment_id') }}
    )
    {%- endif %}
),

statements as (
    select * from {{ ref('stg_cardportal__statements') }}
),

returns as (
    select
        payment_id,
        min({{ utc_date('created_at') }}) as first_returned_date,
        count(*)::bigint as returns_count
    from {{ ref('stg_cardportal__payment_postings') }}
    where kind in ('refund', 'dispute')
    group by payment_id
),

paid_statement as (
    select distinct on (payments.payment_id)
        payments.payment_id,
        statements.statement_id,
        statements.closing_balance_cents,
        statements.minimum_payment_cents
    from payments
    join statements
        on statements.account_id = payments.account_id
        and statements.period_end < {{ utc_date('payments.created_at') }}
    order by payments.payment_id, statements.period_end desc
)

select
    payments.payment_id,
    payments.account_id,
    payments.customer_key,
    payments.initiated_by,
    payments.initiated_by = 'autopay' as is_autopay,
    payments.status,
    payments.failure_code,
    payments.amount_cents,
    payments.returned_amount_cents,
    (case when payments.status = 'succeeded'
        then payments.amount_cents - payments.returned_amount_cents else 0 end)::bigint as net_paid_cents,
    payments.currency,
    paid_statement.statement_id,
    paid_statement.closing_balance_cents as statement_balance_cents,
    paid_statement.minimum_payment_cents as statement_minimum_cents,
    {{ payment_kind('payments.amount_cents', 'paid_statement.closing_balance_cents',
                    'paid_statement.minimum_payment_cents') }} as payment_kind,
    payments.transaction_id,
    payments.request_id,
    payments.created_at,
    {{ utc_date('payments.created_at') }} as created_date,
    payments.succeeded_at,
    {{ utc_date('payments.succeeded_at') }} as succeeded_date,
    returns.first_returned_date,
    coalesce(returns.returns_count, 0)::bigint as returns_count
from payments
left join paid_statement using (payment_id)
left join returns using (payment_id)
