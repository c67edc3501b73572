{#-
    Card activity per period (day, week or month) and MCC group, with an `all` row per
    period: active accounts are distinct per period, so they are never summed from days.
    Weeks start on Monday (ISO 8601), as date_trunc('week') does.
-#}
{% macro card_activity(grain) %}
with

transactions as (
    select
        date_trunc('{{ grain }}', posted_date)::date as period_start,
        mcc_group, transaction_type, status, amount_cents, account_id
    from {{ ref('fct_transactions') }}
),

authorizations as (
    select date_trunc('{{ grain }}', authorized_date)::date as period_start, mcc_group, is_approved
    from {{ ref('fct_authorizations') }}
),

purchases as (
    select
        period_start,
        coalesce(mcc_group, 'all') as mcc_group,
        sum(amount_cents)::bigint as purchase_volume_cents,
        count(*)::bigint as purchase_count,
        count(distinct account_id)::bigint as active_accounts
    from transactions
    where transaction_type = 'purchase' and status = 'posted'
    group by grouping sets ((period_start, mcc_group), (period_start))
),

refunds as (
    select
        period_start,
        coalesce(mcc_group, 'all') as mcc_group,
        sum(amount_cents)::bigint as refund_volume_cents
    from transactions
    where transaction_type = 'refund' and status = 'posted'
    group by grouping sets ((period_start, mcc_group), (period_start))
),

authorization_counts as (
    select
        period_start,
        coalesce(mcc_group, 'all') as mcc_group,
        count(*)::bigint as authorizations_count,
        (count(*) filter (where is_approved))::bigint as approved_count
    from authorizations
    group by grouping sets ((period_start, mcc_group), (period_start))
),

periods as (
    select period_start, mcc_group from purchases
    union
    select period_start, mcc_group from refunds
    union
    select period_start, mcc_group from authorization_counts
)

select
    periods.period_start,
    periods.mcc_group,
    coalesce(purchases.purchase_volume_cents, 0)::bigint as purchase_volume_cents,
    coalesce(purchases.purchase_count, 0)::bigint as purchase_count,
    coalesce(refunds.refund_volume_cents, 0)::bigint as refund_volume_cents,
    coalesce(purchases.active_accounts, 0)::bigint as active_accounts,
    round(purchases.purchase_volume_cents::numeric / nullif(purchases.purchase_count, 0))::bigint
        as average_ticket_cents,
    coalesce(authorization_counts.authorizations_count, 0)::bigint as authorizations_count,
    coalesce(authorization_counts.approved_count, 0)::bigint as approved_count,
    round(authorization_counts.approved_count::numeric / nullif(authorization_counts.authorizations_count, 0), 4)
        as approval_rate
from periods
left join purchases using (period_start, mcc_group)
left join refunds using (period_start, mcc_group)
left join authorization_counts using (period_start, mcc_group)
{% endmacro %}
