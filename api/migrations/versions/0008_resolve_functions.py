"""ledger and network functions: resolving a hold, and a clear or reversal, in one round trip

Revision ID: 0008
Revises: 0007

- ``ledger_resolve_pending(...)``: post a hold for an amount (which may
  differ from it) or void it, once. The customer's receivable is locked
  first, as everywhere, then the hold moves from pending only if it still
  is: a concurrent resolver that committed first makes the re-checked
  ``state = 'pending'`` fail. Answers ``ok``, ``not_found``, or the state
  the hold was already in. ``api.ledger.service.post_pending`` and
  ``void_pending`` call it.
- ``network_resolve(...)``: the network's clear, reverse and hold expiry:
  the authorization's row locked, its state checked, the tip ceiling for a
  clear, the hold resolved, the row updated; returns an outcome code and
  the row as it is now.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_RESOLVE_PENDING = """
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
$$
"""

# p_action: 'clear' (posts p_amount), 'reversed' or 'expired' (voids the hold).
NETWORK_RESOLVE = """
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
$$
"""

FUNCTIONS = (LEDGER_RESOLVE_PENDING, NETWORK_RESOLVE)
SIGNATURES = (
    "network_resolve(text, text, bigint, timestamptz, text, text[], integer)",
    "ledger_resolve_pending(text, boolean, bigint, text, timestamptz, text, text)",
)


def upgrade() -> None:
    # Sent to the driver as written, without parameters: SQLAlchemy would take
    # ':'-words in the bodies for bind parameters, and psycopg '%' for one.
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    for statement in FUNCTIONS:
        cursor.execute(statement)


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"drop function if exists {signature}")
