-- Interest and fee income by month (late fees apart from returned-payment fees), and charge-off
-- losses beside them; from the posted interest and fee transactions, net of nothing (no waivers yet).
-- Losses as the FFIEC Call Report (Schedule RI-B Part I) has them: gross charge-offs (column A),
-- recoveries on accounts charged off before (column B), and net charge-offs, the one less the other.
with

transactions as (
    select * from {{ ref('fct_transactions') }}
    where status = 'posted' and transaction_type in ('interest', 'fee')
),

late_fees as (
    select late_fee_transaction_id as transaction_id from {{ ref('fct_statements') }}
    where late_fee_transaction_id is not null
),

income as (
    select
        date_trunc('month', transactions.posted_date)::date as period_start,
        sum(transactions.amount_cents) filter (where transactions.transaction_type = 'interest') as interest_cents,
        sum(transactions.amount_cents) filter (where transactions.transaction_type = 'fee') as fee_cents,
        sum(transactions.amount_cents) filter (where late_fees.transaction_id is not null) as late_fee_cents,
        count(*) filter (where transactions.transaction_type = 'interest') as interest_charges_count,
        count(*) filter (where transactions.transaction_type = 'fee') as fees_count,
        count(distinct transactions.account_id) as accounts_charged
    from transactions
    left join late_fees using (transaction_id)
    group by 1
),

losses as (
    select date_trunc('month', charged_off_date)::date as period_start,
        sum(charged_off_cents) as charged_off_cents
    from {{ ref('dim_accounts') }}
    where charged_off_date is not null
    group by 1
),

recoveries as (
    select date_trunc('month', recovery_date)::date as period_start,
        sum(recoveries_cents) as recoveries_cents
    from {{ ref('int_charge_off_recoveries_daily') }}
    group by 1
),

months as (
    select period_start from income
    union
    select period_start from losses
    union
    select period_start from recoveries
)

select
    months.period_start,
    coalesce(income.interest_cents, 0)::bigint as interest_income_cents,
    coalesce(income.late_fee_cents, 0)::bigint as late_fee_income_cents,
    (coalesce(income.fee_cents, 0) - coalesce(income.late_fee_cents, 0))::bigint as other_fee_income_cents,
    coalesce(income.fee_cents, 0)::bigint as fee_income_cents,
    (coalesce(income.interest_cents, 0) + coalesce(income.fee_cents, 0))::bigint as total_income_cents,
    coalesce(income.interest_charges_count, 0)::bigint as interest_charges_count,
    coalesce(income.fees_count, 0)::bigint as fees_count,
    coalesce(income.accounts_charged, 0)::bigint as accounts_charged,
    coalesce(losses.charged_off_cents, 0)::bigint as charged_off_cents,
    coalesce(recoveries.recoveries_cents, 0)::bigint as recoveries_cents,
    (coalesce(losses.charged_off_cents, 0) - coalesce(recoveries.recoveries_cents, 0))::bigint
        as net_charge_offs_cents,
    (coalesce(income.interest_cents, 0) + coalesce(income.fee_cents, 0)
        - (coalesce(losses.charged_off_cents, 0) - coalesce(recoveries.recoveries_cents, 0)))::bigint
        as income_less_charge_offs_cents
from months
left join income using (period_start)
left join losses using (period_start)
left join recoveries using (period_start)
