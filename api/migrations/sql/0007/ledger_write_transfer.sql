-- Migration 0007's definition, frozen: never edit (api/migrations/replaceable.py).
create or replace function ledger_write_transfer(
    p_id text, p_kind text, p_state text, p_debit text, p_credit text, p_amount bigint,
    p_currency text, p_pending_id text, p_reference text, p_now timestamptz,
    p_accounts text[], p_amounts bigint[], p_layers text[]
) returns boolean
language plpgsql volatile as $$
declare
    written bigint;
begin
    with legs(account_id, amount, layer) as (
        select * from unnest(p_accounts, p_amounts, p_layers)
    ),
    sums as (
        select account_id,
               coalesce(sum(amount) filter (where layer = 'posted'), 0) as posted,
               coalesce(sum(amount) filter (where layer = 'pending'), 0) as pending,
               coalesce(sum(amount) filter (where layer = 'posted' and amount > 0), 0) as debits,
               coalesce(-sum(amount) filter (where layer = 'posted' and amount < 0), 0) as credits
        from legs group by account_id
    ),
    balances as (
        insert into ledger_accounts as a
            (id, currency, posted_balance, pending_balance, posted_debits, posted_credits)
        select account_id, p_currency, posted, pending, debits, credits from sums
        on conflict (id) do update set
            posted_balance = a.posted_balance + excluded.posted_balance,
            pending_balance = a.pending_balance + excluded.pending_balance,
            posted_debits = a.posted_debits + excluded.posted_debits,
            posted_credits = a.posted_credits + excluded.posted_credits
        where a.currency = excluded.currency
        returning a.id
    ),
    transfer as (
        insert into ledger_transfers
            (id, kind, state, debit_account_id, credit_account_id, amount, currency,
             pending_id, reference, created_at)
        select p_id, p_kind, p_state, p_debit, p_credit, p_amount, p_currency, p_pending_id,
               p_reference, p_now
        where (select count(*) from balances) = (select count(*) from sums)
        returning id
    )
    insert into ledger_entries (transfer_id, ledger_account_id, amount, layer, created_at)
    select transfer.id, legs.account_id, legs.amount, legs.layer, p_now
    from transfer cross join legs;
    get diagnostics written = row_count;
    return written > 0;
end
$$;
