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

Each function's source now lives in its domain's ``sql/`` folder (``api/ledger/sql``,
``api/network/sql``, ``api/gateway/sql``); this revision applies its own definitions, frozen
in ``api/migrations/sql/0007/`` (``api.migrations.replaceable``). Later revisions that
change a function apply their own frozen copies (``ledger_hold`` and ``network_authorize``:
0015).
"""

from collections.abc import Sequence

from api.migrations import replaceable

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each function's definition as this revision wrote it, frozen in api/migrations/sql/0007/
# (its live source is in its domain's sql/ folder; see api.migrations.replaceable).
# In the order they call each other.
FUNCTIONS = (
    "ledger_house",
    "ledger_write_transfer",
    "ledger_hold",
    "ledger_resolve_pending",
    "network_authorize",
    "network_resolve",
    "network_batch",
    "idempotency_begin",
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
    replaceable.apply(revision, *FUNCTIONS)


def downgrade() -> None:
    replaceable.drop(*SIGNATURES)
