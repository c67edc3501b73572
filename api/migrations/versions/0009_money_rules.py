"""billing: the money rules of Regulation Z (issue 20)

Revision ID: 0009
Revises: 0008

- ``statements.past_due_amount``: what was past due when the statement closed; the
  statement's ``minimum_payment`` includes it, so paying each minimum shown brings the
  account current.
- ``statements.returned_payments``: payments of earlier cycles that came back (a refund or a
  dispute at Stripe), on a line of their own instead of as negative payments; the identity
  becomes ``closing = opening + purchases - refunds - payments + returned_payments +
  interest + fees``. Existing statements carried returns inside ``payments``: they keep
  ``returned_payments = 0``, and their identity holds as before.
- ``statements.late_fee_deferred``: the due date passed with a payment made by then still
  pending at Stripe; the late fee is decided when it settles (12 CFR 1026.10(a): a payment is
  credited as of the day it was received).
- ``billing_failures``: an account whose daily-job step failed on a day, retried by the next
  run (and by ``cardportal ops run-day``) before any later day of that account, so that no
  cycle is ever skipped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_IDENTITY = "closing_balance = opening_balance + purchases - refunds - payments + interest + fees"
_NEW_IDENTITY = (
    "closing_balance = opening_balance + purchases - refunds - payments + returned_payments + interest + fees"
)


def upgrade() -> None:
    op.add_column(
        "statements", sa.Column("past_due_amount", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "statements", sa.Column("returned_payments", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "statements",
        sa.Column("late_fee_deferred", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.drop_constraint(op.f("ck_statements_identity"), "statements", type_="check")
    op.create_check_constraint(op.f("ck_statements_identity"), "statements", _NEW_IDENTITY)
    op.create_index(
        "ix_statements_late_fee_deferred",
        "statements",
        ["account_id"],
        postgresql_where=sa.text("late_fee_deferred"),
    )
    op.create_table(
        "billing_failures",
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_billing_failures_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_billing_failures")),
    )
    op.create_index(
        "ix_billing_failures_unresolved",
        "billing_failures",
        ["day", "account_id"],
        postgresql_where=sa.text("resolved_at is null"),
    )


def downgrade() -> None:
    op.drop_index("ix_billing_failures_unresolved", table_name="billing_failures")
    op.drop_table("billing_failures")
    op.drop_index("ix_statements_late_fee_deferred", table_name="statements")
    op.drop_constraint(op.f("ck_statements_identity"), "statements", type_="check")
    # Returns go back inside ``payments``, as before this revision.
    op.execute("update statements set payments = payments - returned_payments, returned_payments = 0")
    op.create_check_constraint(op.f("ck_statements_identity"), "statements", _OLD_IDENTITY)
    op.drop_column("statements", "late_fee_deferred")
    op.drop_column("statements", "returned_payments")
    op.drop_column("statements", "past_due_amount")
