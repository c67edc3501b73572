-- network_resolve(...): the network's clear, reverse and hold expiry. The authorization's row
-- locked (before the receivable), its state checked, the tip ceiling of a clear (tipping
-- merchants may clear up to p_tip_bps above the hold: api.cards.controls.TIP_TOLERANCE_BPS),
-- the hold resolved through ledger_resolve_pending, the row updated; an outcome code and the row.
-- Called by api.network.service._resolve (clear, reverse, expire_holds) and by network_batch.
create or replace function network_resolve(
    p_authorization_id text, p_action text, p_amount bigint, p_now timestamptz, p_transfer_id text,
    p_tipping_mccs text[], p_tip_bps integer
) returns table (
    outcome text, max_amount bigint, id text, account_id text, card_id text, type text,
    status text, amount bigint, currency text, authorized_amount bigint, merchant_name text,
    merchant_mcc text, merchant_country text, decline_code text, closed_reason text,
    original_transaction_id text, refunded_amount bigint, created_at timestamptz,
    posted_at timestamptz
)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    t transactions%rowtype;
    ceiling bigint;
    resolved text;
begin
    select * into t from transactions x
     where x.id = p_authorization_id and x.type = 'purchase' for update;
    if not found then
        return query select 'authorization_not_found', null::bigint, null::text, null::text, null::text,
            null::text, null::text, null::bigint, null::text, null::bigint, null::text, null::text,
            null::text, null::text, null::text, null::text, null::bigint, null::timestamptz,
            null::timestamptz;
        return;
    end if;
    if t.status <> 'pending' then
        outcome := case
            when t.status = 'posted' then 'authorization_already_cleared'
            when t.status = 'declined' then 'authorization_declined'
            when t.closed_reason = 'expired' then 'authorization_expired'
            else 'authorization_reversed' end;
    elsif p_action = 'clear' then
        -- Tipping merchants (restaurants, taxis, salons) may clear up to 20 % above the hold.
        ceiling := t.amount + case when coalesce(t.merchant_mcc, '0000') = any(p_tipping_mccs)
                                   then t.amount * p_tip_bps / 10000 else 0 end;
        if p_amount > ceiling then
            outcome := 'clear_exceeds_authorization';
        else
            resolved := ledger_resolve_pending(
                t.hold_transfer_id, true, p_amount, 'purchase', p_now, t.id, p_transfer_id);
            if resolved <> 'ok' then
                raise exception 'hold % of % is %', t.hold_transfer_id, t.id, resolved;
            end if;
            update transactions x set posting_transfer_id = p_transfer_id, status = 'posted',
                   amount = p_amount, posted_at = p_now
             where x.id = t.id
            returning * into t;
            outcome := 'ok';
        end if;
    else
        resolved := ledger_resolve_pending(
            t.hold_transfer_id, false, 0, case when p_action = 'reversed' then 'reversal' else 'expiry' end,
            p_now, t.id, p_transfer_id);
        if resolved <> 'ok' then
            raise exception 'hold % of % is %', t.hold_transfer_id, t.id, resolved;
        end if;
        update transactions x set posting_transfer_id = p_transfer_id, status = 'reversed',
               closed_reason = p_action
         where x.id = t.id
        returning * into t;
        outcome := 'ok';
    end if;
    return query select outcome, ceiling, t.id::text, t.account_id::text, t.card_id::text, t.type::text,
        t.status::text, t.amount::bigint, t.currency::text, t.authorized_amount::bigint,
        t.merchant_name::text, t.merchant_mcc::text, t.merchant_country::text, t.decline_code::text,
        t.closed_reason::text, t.original_transaction_id::text, t.refunded_amount::bigint,
        t.created_at::timestamptz, t.posted_at::timestamptz;
end
$$;
