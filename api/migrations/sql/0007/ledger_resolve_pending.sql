-- Migration 0007's definition, frozen: never edit (api/migrations/replaceable.py).
create or replace function ledger_resolve_pending(
    p_pending_id text, p_post boolean, p_amount bigint, p_kind text, p_now timestamptz,
    p_reference text, p_transfer_id text
) returns text
language plpgsql volatile as $$
declare
    debit text;
    hold record;
    state text;
begin
    select t.debit_account_id into debit from ledger_transfers t where t.id = p_pending_id;
    if not found then
        return 'not_found';
    end if;
    perform 1 from ledger_accounts a where a.id = debit for update;
    update ledger_transfers t set state = case when p_post then 'posted' else 'voided' end
     where t.id = p_pending_id and t.state = 'pending'
    returning t.debit_account_id, t.credit_account_id, t.amount, t.currency into hold;
    if not found then
        select t.state into state from ledger_transfers t where t.id = p_pending_id;
        return state;
    end if;
    if p_post then
        perform ledger_write_transfer(
            p_transfer_id, p_kind, 'posted', hold.debit_account_id, hold.credit_account_id, p_amount,
            hold.currency, p_pending_id, p_reference, p_now,
            array[hold.debit_account_id, hold.credit_account_id, hold.debit_account_id, hold.credit_account_id],
            array[-hold.amount, hold.amount, p_amount, -p_amount],
            array['pending', 'pending', 'posted', 'posted']);
    else
        perform ledger_write_transfer(
            p_transfer_id, p_kind, 'posted', hold.debit_account_id, hold.credit_account_id, 0,
            hold.currency, p_pending_id, p_reference, p_now,
            array[hold.debit_account_id, hold.credit_account_id],
            array[-hold.amount, hold.amount],
            array['pending', 'pending']);
    end if;
    return 'ok';
end
$$;
