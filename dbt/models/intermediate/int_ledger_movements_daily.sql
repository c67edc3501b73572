-- The ledger's movements of customer receivables per business day and layer.
select
    {{ utc_date('created_at') }} as movement_date,
    sum(amount_cents) filter (where layer = 'posted')::bigint as posted_movement_cents,
    sum(amount_cents) filter (where layer = 'pending')::bigint as pending_movement_cents
from {{ ref('stg_cardportal__ledger_entries') }}
where account_id is not null
group by 1
