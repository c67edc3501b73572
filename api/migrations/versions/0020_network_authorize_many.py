"""network: several authorizations in one statement, one commit (issue 24)

Revision ID: 0020
Revises: 0019

Under load, most of PostgreSQL's work per authorization was not the authorization but its
statement and its transaction: the protocol round trip, the transaction's start and commit, the
commit's WAL flush and the wake-ups around it. ``network_authorize_many`` runs several
``network_authorize_once`` in one statement, so one commit serves them (api.network.batching
gathers the authorizations that arrive while the previous statement runs). It first locks the
messages' receivables and then their house shards, each in id order, so that concurrent batches
never deadlock. Nothing existing changes: a new function.

Measured (psycopg, 4 threads, 100 accounts, PostgreSQL's CPU per authorization): 1.0-1.2 ms one
per statement, 0.60 four per statement, 0.48 eight per statement (bench/README.md, issue 24).

The definition applied is this revision's frozen copy (``api/migrations/sql/0020/``) of
``api/network/sql/network_authorize_many.sql`` (see ``api.migrations.replaceable``).
"""

from collections.abc import Sequence

from api.migrations import replaceable

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    replaceable.apply(revision, "network_authorize_many")


def downgrade() -> None:
    replaceable.drop(
        "network_authorize_many(text[], text[], bigint[], text[], interval[], text[], text[], text[],"
        " bigint[], text[], text[], text[], text[], text[], timestamptz[], text[], bigint)"
    )
