-- Migration 0015's definition, frozen: never edit (api/migrations/replaceable.py).
-- ledger_hold(...): a pending purchase, within the limit: the customer's receivable locked, the
-- ledger's invariant 5 checked (a hold never takes a customer account past its limit, with the
-- available credit of account_available_credit), the hold written (debit the customer, credit
-- the account's network settlement shard). Answers 'ok', 'limit_exceeded', 'currency_mismatch'
-- or 'no_ledger', and the credit available (after the hold, when it is written).
-- Called by api.ledger.service.hold and by network_authorize.
create or replace function ledger_hold(
    p_transfer_id text, p_account_id text, p_amount bigint, p_credit_limit bigint, p_currency text,
    p_now timestamptz, p_reference text
) returns table (outcome text, available bigint)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    receivable text := p_account_id || ':receivable';
    house text := ledger_house('network_settlement', p_account_id);
    held record;
begin
    select l.posted_balance, l.pending_balance into held from ledger_accounts l
     where l.id = receivable for update;
    if not found then
        outcome := 'no_ledger';
        return next;
        return;
    end if;
    available := account_available_credit(p_credit_limit, held.posted_balance, held.pending_balance);
    if p_amount > available then
        outcome := 'limit_exceeded';
    elsif ledger_write_transfer(
        p_transfer_id, 'hold', 'pending', receivable, house, p_amount, p_currency, null, p_reference,
        p_now, array[receivable, house], array[p_amount, -p_amount], array['pending', 'pending']
    ) then
        outcome := 'ok';
        available := available - p_amount;
    else
        -- Nothing of the transfer is written; the caller's transaction must be rolled back
        -- (another account's balance row may have been touched).
        outcome := 'currency_mismatch';
    end if;
    return next;
end
$$;
