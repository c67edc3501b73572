with source as (
    {{ latest_version(source('raw', 'ledger_accounts')) }}
)

select
    id as ledger_account_id,
    currency,
    case when split_part(id, ':', 2) = 'receivable' then 'receivable' else 'house' end as ledger_account_kind,
    case when split_part(id, ':', 2) = 'receivable' then split_part(id, ':', 1) end as account_id,
    created_at
from source
