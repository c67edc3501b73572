{#-
    Card activity per period (day, week or month) and MCC group, with an `all` row per
    period: active accounts are distinct per period, so they are never summed from days.
    Weeks start on Monday (ISO 8601), as date_trunc('week') does.

    One pass over the posted purchases and refunds (aggregates with `filter`), rather than one
    per kind over every transaction: the same rows, half the reading (issue 22).
-#}
{% macro card_activity(grain) %}
with

posted as (
    select
        date_trunc('{{ grain }}', posted_date)::date as period_start,
        mcc_group, transaction_type, amount_cents, account_id
    from {{ ref('fct_transactions') }}
    where status = 'posted' and transaction_type in ('purchase', 'refund')
),

authorizations as (
    select date_trunc('{{ grain }}', authorized_date)::date as period_start, mcc_group, is_approved
    from {{ ref('fct_authorizations') }}
),

money as (
    select
        period_start,
        coalesce(mcc_group, 'all') as mcc_group,
        sum(amount_cents) filter (where transaction_type = 'purchase')::bigint as purchase_volume_cents,
        (count(*) filter (where transaction_type = 'purchase'))::bigint as purchase_count,
        (count(distinct account_id) filter (where transaction_type = 'purchase'))::bigint as active_accounts,
        sum(amount_cents) filter (where transaction_type = 'refund')::bigint as refund_volume_cents
    from posted
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
)

select
    period_start,
    mcc_group,
    coalesce(money.purchase_volume_cents, 0)::bigint as purchase_volume_cents,
    coalesce(money.purchase_count, 0)::bigint as purchase_count,
    coalesce(money.refund_volume_cents, 0)::bigint as refund_volume_cents,
    coalesce(money.active_accounts, 0)::bigint as active_accounts,
    round(money.purchase_volume_cents::numeric / nullif(money.purchase_count, 0))::bigint
        as average_ticket_cents,
    coalesce(authorization_counts.authorizations_count, 0)::bigint as authorizations_count,
    coalesce(authorization_counts.approved_count, 0)::bigint as approved_count,
    round(authorization_counts.approved_count::numeric / nullif(authorization_counts.authorizations_count, 0), 4)
        as approval_rate
from money
full join authorization_counts using (period_start, mcc_group)
{% endmacro %}
