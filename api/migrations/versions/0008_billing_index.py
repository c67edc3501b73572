"""billing: the account's posted transactions by type and posting day

Revision ID: 0008
Revises: 0007

The daily job reads an account's posted transactions by type and posting
time (the cycle's postings, the payments by the due date, the year's
interest and fees). The only per-account index was by creation time, so each
of those reads visited every row the account ever had (a year of purchases
scattered over hundreds of heap pages) to keep a handful; the year-to-date
sums grew all year. This index finds exactly the rows asked for, and answers
the sums from the index itself (``amount`` included).

Plain ``CREATE INDEX`` inside the migration's transaction: on a large
production database, build it ``CONCURRENTLY`` by hand first; ``if not
exists`` then makes this revision a no-op.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "create index if not exists ix_transactions_account_posted on transactions"
        " (account_id, type, posted_at) include (amount) where status = 'posted'"
    )


def downgrade() -> None:
    op.execute("drop index if exists ix_transactions_account_posted")
