"""ledger: drop three indexes no query reads (issue 24, ledger_core)

Revision ID: 0019
Revises: 0017

Every transfer paid for index entries that nothing reads: ``ix_ledger_transfers_debit_account_id``
and ``ix_ledger_transfers_credit_account_id`` (two per transfer row) and
``ix_ledger_entries_transfer_id`` (one per entry: a hold writes two entries, its posting four).
No query of the API, the jobs or the extracts filters or joins on those columns; the ledger's
integrity check groups every entry by transfer, a full scan either way. They were created only
because the foreign keys' columns were declared ``index=True``: PostgreSQL needs an index on a
referencing column only to delete or re-key the referenced row quickly, and ledger accounts and
transfers are never deleted nor re-keyed. The foreign keys themselves stay.

Measured with ``pg_walinspect`` on 1,000 holds and their postings: 17.4 B-tree insertions per
transfer before, 12.4 after; the write-ahead log per transfer 2,790 bytes before (bench/README.md,
issue 24).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROPPED = (
    ("ix_ledger_transfers_debit_account_id", "ledger_transfers", "debit_account_id"),
    ("ix_ledger_transfers_credit_account_id", "ledger_transfers", "credit_account_id"),
    ("ix_ledger_entries_transfer_id", "ledger_entries", "transfer_id"),
)


def upgrade() -> None:
    for name, table, _column in _DROPPED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in _DROPPED:
        op.create_index(name, table, [column], unique=False)
