-- Card accounts as they are now (their limit and status history is the snapshot snp_accounts),
-- with their autopay setting and, once written off, the charge-off.
with

accounts as (
    select * from {{ ref('stg_cardportal__accounts') }}
),

autopay as (
    select * from {{ ref('stg_cardportal__autopay_settings') }}
),

charge_offs as (
    select * from {{ ref('stg_cardportal__charge_offs') }}
)

select
    accounts.account_id,
    accounts.customer_key,
    accounts.application_id,
    accounts.status,
    accounts.credit_limit_cents,
    accounts.apr_bps,
    accounts.currency,
    accounts.billing_cycle_day,
    accounts.opened_at,
    {{ utc_date('accounts.opened_at') }} as opened_date,
    accounts.closed_at,
    coalesce(autopay.is_enabled, false) as has_autopay,
    autopay.autopay_amount,
    charge_offs.charged_off_date,
    charge_offs.charged_off_cents
from accounts
left join autopay using (account_id)
left join charge_offs using (account_id)
