-- The ledger's movements of customer receivables per business day and layer; payments apart
-- (credits of the receivable by transfers of kind `payment`, as a positive amount).
-- Incremental by day (delete+insert on the day): entries never change and are extracted on the day
-- they were written, so a run recomputes its own days only.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='movement_date', on_schema_change='fail') }}
select
    {{ utc_date('entries.created_at') }} as movement_date,
    sum(entries.amount_cents) filter (where entries.layer = 'posted')::bigint as posted_movement_cents,
    sum(entries.amount_cents) filter (where entries.layer = 'pending')::bigint as pending_movement_cents,
    coalesce(-sum(entries.amount_cents) filter (where entries.layer = 'posted' and transfers.kind = 'payment'), 0)::bigint
        as payment_movement_cents
from {{ ref('stg_cardportal__ledger_entries') }} as entries
left join {{ ref('stg_cardportal__ledger_transfers') }} as transfers using (transfer_id)
where entries.account_id is not null
{%- if cardportal_run_days() %}
    and {{ utc_date('entries.created_at') }}
        between cast('{{ var("min_date") }}' as date) and cast('{{ var("max_date") }}' as date)
{%- endif %}
group by 1
