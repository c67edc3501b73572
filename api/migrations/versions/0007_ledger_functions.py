"""ledger and network functions: a transfer and an authorization in one round trip

Revision ID: 0007
Revises: 0006

The authorization path made eight round trips per request and most of its
cost was Python between them (py-spy on the authorize load: the worker at
one full core, a third of it the kernel switching threads between the
round trips). These functions move the work into PostgreSQL, each one
statement from the application's side:

- ``ledger_house(kind, account_id)``: the house account shard of a customer
  account (``api.ledger.service.house`` computes the same in Python).
- ``ledger_write_transfer(...)``: a transfer row, its entries and the
  balances of every account it touches (created on first use), so balances
  and entries can never disagree; false (writing nothing) when an account
  is in another currency. Every transfer the ledger writes goes through it.
- ``network_authorize(...)``: the whole authorization: the card, its
  account and the account's receivable locked, every check in the order
  ``api.network.service`` documents, the transaction row, and the hold.
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
    receivable text;
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

    -- Rule 5 of the ledger: a hold never takes the account past its limit.
    available := ctx.credit_limit - ctx.posted_balance - ctx.pending_balance;
    if decline is null and p_amount > available then
        decline := 'insufficient_credit';
    end if;

    -- The transaction row first, then the hold: the house account the hold
    -- updates stays locked for as short as possible.
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
        receivable := ctx.receivable;
        if not ledger_write_transfer(
            p_transfer_id, 'hold', 'pending', receivable,
            ledger_house('network_settlement', ctx.account_id), p_amount, p_currency, null, p_id,
            p_now,
            array[receivable, ledger_house('network_settlement', ctx.account_id)],
            array[p_amount, -p_amount], array['pending', 'pending']
        ) then
            raise exception 'currency mismatch on transfer hold (%)', p_currency;
        end if;
        available := available - p_amount;
    end if;
    return query select ctx.account_id::text, decline, available;
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

FUNCTIONS = (LEDGER_HOUSE, LEDGER_WRITE_TRANSFER, NETWORK_AUTHORIZE, IDEMPOTENCY_BEGIN)
SIGNATURES = (
    "idempotency_begin(text, text, bigint)",
    "network_authorize(text, text, text, bigint, text, text, text, text, text, timestamptz, text[], bigint)",
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
