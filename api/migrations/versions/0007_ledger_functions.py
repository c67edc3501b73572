"""ledger and network functions: a transfer, an authorization, a clear in one round trip each

Revision ID: 0007
Revises: 0006

The authorization path made eight round trips per request and most of its
cost was Python between them (py-spy and perf on the authorize load: the
worker at one full core, a third of it the kernel switching threads between
the round trips). These functions move the work into PostgreSQL, each one
statement from the application's side:

- ``ledger_house(kind, account_id)``: the house account shard of a customer
  account (``api.ledger.service.house`` computes the same in Python).
- ``ledger_write_transfer(...)``: a transfer row, its entries and the
  balances of every account it touches (created on first use), so balances
  and entries can never disagree; false (writing nothing of the transfer)
  when an account is in another currency. Every transfer goes through it.
- ``ledger_hold(...)``: the customer's receivable locked, rule 5 (a hold
  never takes the account past its limit) checked, the hold written;
  answers ``ok``, ``limit_exceeded``, ``currency_mismatch`` or ``no_ledger``
  and the credit available (after the hold, when it is written).
- ``ledger_resolve_pending(...)``: post a hold for an amount (which may
  differ from it) or void it, once. The receivable is locked first, as
  everywhere, then the hold moves from pending only if it still is: a
  concurrent resolver that committed first makes the re-checked
  ``state = 'pending'`` fail. Answers ``ok``, ``not_found``, or the state
  the hold was already in.
- ``network_authorize(...)``: the whole authorization: the card, its account
  and the account's receivable locked, every check in the order
  ``api.network.service`` documents, the transaction row, and the hold.
- ``network_resolve(...)``: the network's clear, reverse and hold expiry:
  the authorization's row locked, its state checked, the tip ceiling for a
  clear, the hold resolved, the row updated; an outcome code and the row.
- ``network_batch(...)``: ``network_authorize`` for each message in array
  order and, when one is approved and its message says so,
  ``network_resolve`` right after it (clear for an amount, or reverse), as
  the network's messages would one by one: ``api.network.service.
  authorize_batch``, for bulk loads (the simulator's ``--bulk``).
- ``idempotency_begin(...)``: the Idempotency-Key's advisory lock and the
  look-up of a stored answer. Inside a volatile function each statement
  takes a fresh snapshot, so the look-up runs after the lock is held and
  sees an answer its previous holder committed.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must equal api.ledger.service.HOUSE_SHARDS (a test checks both agree).
HOUSE_SHARDS = 16

LEDGER_HOUSE = f"""
create or replace function ledger_house(p_kind text, p_account_id text) returns text
language sql immutable strict parallel safe as $$
    select 'house:' || p_kind || ':'
           || lpad(mod(get_byte(sha256(convert_to(p_account_id, 'UTF8')), 0), {HOUSE_SHARDS})::text, 2, '0')
$$
"""

LEDGER_WRITE_TRANSFER = """
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
$$
"""

LEDGER_HOLD = """
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
    available := p_credit_limit - held.posted_balance - held.pending_balance;
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
$$
"""

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

# Declines are answers, not errors: the function returns a decline code and
# the caller answers 200 with approved false. Only an unknown card returns
# no account (the caller's 404).
NETWORK_AUTHORIZE = """
create or replace function network_authorize(
    p_id text, p_transfer_id text, p_card_id text, p_amount bigint, p_currency text,
    p_merchant_name text, p_merchant_mcc text, p_mcc_group text, p_merchant_country text,
    p_now timestamptz, p_issuing_currencies text[], p_max_amount bigint
) returns table (account_id text, decline_code text, available_credit bigint)
language plpgsql volatile as $$
declare
    ctx record;
    decline text;
    available bigint;
    controls jsonb;
    day_start timestamptz := date_trunc('day', p_now, 'UTC');
    month_start timestamptz := date_trunc('month', p_now, 'UTC');
    spent bigint;
    held text;
begin
    -- One round trip instead of three: the card, its account, and the account's
    -- receivable locked (FOR UPDATE OF the receivable only), so spending-control
    -- sums and the credit check see every concurrent authorization on the account.
    select c.status as card_status, c.exp_year, c.exp_month, c.controls,
           a.id as account_id, a.status as account_status, a.currency, a.credit_limit,
           l.id as receivable, l.posted_balance, l.pending_balance
      into ctx
      from cards c
      join accounts a on a.id = c.account_id
      join ledger_accounts l on l.id = a.id || ':receivable'
     where c.id = p_card_id
       for update of l;
    if not found then
        return;
    end if;

    if not (p_currency = any(p_issuing_currencies)) or p_currency <> ctx.currency then
        decline := 'currency_not_supported';
    elsif ctx.account_status <> 'active' then
        decline := 'account_closed';
    elsif ctx.card_status = 'frozen' then
        decline := 'card_frozen';
    elsif ctx.card_status <> 'active' then
        decline := 'card_closed';
    -- A card is valid through the last day of its expiry month.
    elsif (extract(year from p_now at time zone 'UTC')::int, extract(month from p_now at time zone 'UTC')::int)
          > (ctx.exp_year, ctx.exp_month) then
        decline := 'card_expired';
    elsif p_amount > p_max_amount then
        decline := 'amount_too_large';
    end if;

    -- Spending controls (api.cards.controls documents them): blocked groups and
    -- countries, the per-authorization cap, and the day's and month's spending
    -- (holds and clears, less reversals) plus this authorization within the limits.
    controls := coalesce(ctx.controls, '{}'::jsonb);
    if decline is null and controls <> '{}'::jsonb then
        if coalesce(controls -> 'blocked_mcc_groups', '[]'::jsonb) ? p_mcc_group
           or coalesce(controls -> 'blocked_countries', '[]'::jsonb) ? p_merchant_country
           or p_amount > coalesce((controls ->> 'per_authorization_limit')::bigint, p_amount) then
            decline := 'spending_control';
        end if;
        if decline is null and controls ->> 'daily_limit' is not null then
            select coalesce(sum(t.amount), 0) into spent from transactions t
             where t.card_id = p_card_id and t.type = 'purchase'
               and t.status in ('pending', 'posted') and t.created_at >= day_start;
            if spent + p_amount > (controls ->> 'daily_limit')::bigint then
                decline := 'spending_control';
            end if;
        end if;
        if decline is null and controls ->> 'monthly_limit' is not null then
            select coalesce(sum(t.amount), 0) into spent from transactions t
             where t.card_id = p_card_id and t.type = 'purchase'
               and t.status in ('pending', 'posted') and t.created_at >= month_start;
            if spent + p_amount > (controls ->> 'monthly_limit')::bigint then
                decline := 'spending_control';
            end if;
        end if;
    end if;

    -- The transaction row first, then the hold: the house account the hold
    -- updates stays locked for as short as possible. The credit check comes first
    -- here to record a decline; ledger_hold enforces rule 5 again as it holds.
    available := ctx.credit_limit - ctx.posted_balance - ctx.pending_balance;
    if decline is null and p_amount > available then
        decline := 'insufficient_credit';
    end if;
    insert into transactions
        (id, account_id, card_id, type, status, amount, authorized_amount, currency,
         merchant_name, merchant_mcc, merchant_country, decline_code, hold_transfer_id,
         refunded_amount, created_at)
    values
        (p_id, ctx.account_id, p_card_id, 'purchase',
         case when decline is null then 'pending' else 'declined' end,
         p_amount, p_amount, p_currency, p_merchant_name, p_merchant_mcc, p_merchant_country,
         decline, case when decline is null then p_transfer_id end, 0, p_now);
    if decline is null then
        select h.outcome, h.available into held, available
          from ledger_hold(p_transfer_id, ctx.account_id, p_amount, ctx.credit_limit, p_currency, p_now, p_id) h;
        if held <> 'ok' then
            raise exception 'hold of % on % refused after its checks: %', p_amount, ctx.account_id, held;
        end if;
    end if;
    return query select ctx.account_id::text, decline, available;
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

NETWORK_BATCH = """
create or replace function network_batch(
    p_ids text[], p_transfer_ids text[], p_cards text[], p_amounts bigint[], p_currencies text[],
    p_names text[], p_mccs text[], p_groups text[], p_countries text[], p_now timestamptz,
    p_actions text[], p_settle_amounts bigint[], p_settle_transfer_ids text[],
    p_issuing_currencies text[], p_max_amount bigint, p_tipping_mccs text[], p_tip_bps integer
) returns table (account_id text, decline_code text, available_credit bigint, settled text)
language plpgsql volatile as $$
#variable_conflict use_column
declare
    i integer;
    a record;
begin
    for i in 1 .. coalesce(array_length(p_ids, 1), 0) loop
        select * into a from network_authorize(
            p_ids[i], p_transfer_ids[i], p_cards[i], p_amounts[i], p_currencies[i], p_names[i],
            p_mccs[i], p_groups[i], p_countries[i], p_now, p_issuing_currencies, p_max_amount) x;
        settled := null;
        if not found then
            account_id := null;
            decline_code := 'card_not_found';
            available_credit := null;
        else
            account_id := a.account_id;
            decline_code := a.decline_code;
            available_credit := a.available_credit;
            if a.decline_code is null and p_actions[i] is not null then
                select r.outcome into settled from network_resolve(
                    p_ids[i], p_actions[i], p_settle_amounts[i], p_now, p_settle_transfer_ids[i],
                    p_tipping_mccs, p_tip_bps) r;
            end if;
        end if;
        return next;
    end loop;
end
$$
"""

IDEMPOTENCY_BEGIN = """
create or replace function idempotency_begin(p_scope text, p_key text, p_lock bigint)
returns table (acquired boolean, fingerprint text, status_code integer, response_body json)
language plpgsql volatile as $$
begin
    if not pg_try_advisory_xact_lock(p_lock) then
        return query select false, null::text, null::integer, null::json;
        return;
    end if;
    return query
        select true, k.fingerprint::text, k.status_code::integer, k.response_body::json
          from idempotency_keys k
         where k.scope = p_scope and k.key = p_key and k.expires_at > now();
    if not found then
        return query select true, null::text, null::integer, null::json;
    end if;
end
$$
"""

# In the order they call each other.
FUNCTIONS = (
    LEDGER_HOUSE,
    LEDGER_WRITE_TRANSFER,
    LEDGER_HOLD,
    LEDGER_RESOLVE_PENDING,
    NETWORK_AUTHORIZE,
    NETWORK_RESOLVE,
    NETWORK_BATCH,
    IDEMPOTENCY_BEGIN,
)
SIGNATURES = (
    "idempotency_begin(text, text, bigint)",
    "network_batch(text[], text[], text[], bigint[], text[], text[], text[], text[], text[], timestamptz, "
    "text[], bigint[], text[], text[], bigint, text[], integer)",
    "network_resolve(text, text, bigint, timestamptz, text, text[], integer)",
    "network_authorize(text, text, text, bigint, text, text, text, text, text, timestamptz, text[], bigint)",
    "ledger_resolve_pending(text, boolean, bigint, text, timestamptz, text, text)",
    "ledger_hold(text, text, bigint, bigint, text, timestamptz, text)",
    "ledger_write_transfer(text, text, text, text, text, bigint, text, text, text, timestamptz, "
    "text[], bigint[], text[])",
    "ledger_house(text, text)",
)


def upgrade() -> None:
    # Sent to the driver as written, without parameters: SQLAlchemy would take the
    # bodies' ':receivable' for a bind parameter, and psycopg their '%' for one.
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    for statement in FUNCTIONS:
        cursor.execute(statement)


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"drop function if exists {signature}")
