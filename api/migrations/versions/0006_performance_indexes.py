"""performance: created_at indexes for the daily extracts

Revision ID: 0006
Revises: 0005

The data platform extracts each operational table one business day at a
time (``where created_at >= :start and created_at < :end``, and the other
"touched" columns: decided_at, closed_at, updated_at). Without these indexes
every daily extract scans its whole table, so a day's extract grows with the
history instead of with the day.

Plain ``CREATE INDEX`` inside the migration's transaction (the migrations run
in one transaction, where ``CONCURRENTLY`` is not allowed): on a large
production database, build them ``CONCURRENTLY`` by hand first; ``if not
exists`` then makes this revision a no-op.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, column, partial predicate)
INDEXES: tuple[tuple[str, str, str, str | None], ...] = (
    ("ix_transactions_created", "transactions", "created_at", None),
    # A transaction is touched again on the day its hold resolves (clear, reverse, expire):
    # the extract finds those through the resolving transfer's day.
    (
        "ix_transactions_posting_transfer",
        "transactions",
        "posting_transfer_id",
        "posting_transfer_id is not null",
    ),
    ("ix_ledger_transfers_created", "ledger_transfers", "created_at", None),
    ("ix_ledger_entries_created", "ledger_entries", "created_at", None),
    ("ix_ledger_accounts_created", "ledger_accounts", "created_at", None),
    ("ix_applications_created", "applications", "created_at", None),
    ("ix_applications_decided", "applications", "decided_at", "decided_at is not null"),
    ("ix_accounts_created", "accounts", "created_at", None),
    ("ix_accounts_closed", "accounts", "closed_at", "closed_at is not null"),
    ("ix_cards_created", "cards", "created_at", None),
    ("ix_statements_created", "statements", "created_at", None),
    ("ix_payments_updated", "payments", "updated_at", None),
    # audit_events, payment_exceptions and payments.created_at have theirs already
    # (0004, 0005); billing_runs.day is unique.
)


def upgrade() -> None:
    for name, table, column, where in INDEXES:
        predicate = f" where {where}" if where else ""
        op.execute(f"create index if not exists {name} on {table} ({column}){predicate}")


def downgrade() -> None:
    for name, _table, _column, _where in reversed(INDEXES):
        op.execute(f"drop index if exists {name}")
