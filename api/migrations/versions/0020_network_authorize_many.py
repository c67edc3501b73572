"""network: several authorizations (or clears) in one statement, one commit (issue 24)

Revision ID: 0020
Revises: 0019

Under load, most of PostgreSQL's work per authorization was not the authorization but its
statement and its transaction: the protocol round trip, the transaction's start and commit, the
commit's WAL flush and the wake-ups around it. ``network_authorize_many`` runs several
``network_authorize_once`` in one statement, and ``network_resolve_many`` several
``network_resolve_once`` (clears, reversals), so one commit serves them (api.network.batching
gathers the messages that arrive while the previous statement runs). Each first locks what its
messages will lock (the authorizations' rows, then the receivables and the house shards through
``ledger_lock_customers``), each in id order, so that concurrent batches never deadlock. Nothing
existing changes: new functions.

Measured (psycopg, 4 threads, 100 accounts, PostgreSQL's CPU per authorization): 1.0-1.2 ms one
per statement, 0.60 four per statement, 0.48 eight per statement (bench/README.md, issue 24).

The definitions applied are this revision's frozen copies (``api/migrations/sql/0020/``) of
``api/network/sql/network_authorize_many.sql``, ``network_resolve_many.sql`` and
``api/ledger/sql/ledger_lock_customers.sql`` (see ``api.migrations.replaceable``).
"""

from collections.abc import Sequence

from api.migrations import replaceable

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    replaceable.apply(revision, "ledger_lock_customers", "network_authorize_many", "network_resolve_many")


def downgrade() -> None:
    replaceable.drop(
        "network_resolve_many(text[], text[], bigint[], text[], interval[], text[], text[], bigint[],"
        " timestamptz[], text[], text[], integer)",
        "network_authorize_many(text[], text[], bigint[], text[], interval[], text[], text[], text[],"
        " bigint[], text[], text[], text[], text[], text[], timestamptz[], text[], bigint)",
        "ledger_lock_customers(text[])",
    )
