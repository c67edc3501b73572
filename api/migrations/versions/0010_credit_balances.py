"""payments: credit balances returned (12 CFR 1026.11(a)) and recoveries after charge-off

Revision ID: 0010
Revises: 0009

- ``credit_balance_refunds``: each return of a credit balance, on the cardholder's request
  or by the platform after six months, and what of it awaits a check.
- ``transactions.type`` also takes ``recovery`` and ``recovery_return``: a credit to a
  charged-off account booked against its loss, and that booking undone when the payment is
  taken back (api.billing.recoveries).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TYPES_BEFORE = "'purchase', 'refund', 'payment', 'interest', 'fee', 'reversal'"
_TYPES_AFTER = _TYPES_BEFORE + ", 'recovery', 'recovery_return'"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_transactions_type_known"), "transactions", type_="check")
    op.create_check_constraint(op.f("ck_transactions_type_known"), "transactions", f"type in ({_TYPES_AFTER})")
    op.create_table(
        "credit_balance_refunds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("initiated_by", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("pending_amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("stripe_refunds", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_credit_balance_refunds_amount_positive")),
        sa.CheckConstraint(
            "refunded_amount >= 0 and pending_amount >= 0",
            name=op.f("ck_credit_balance_refunds_parts_not_negative"),
        ),
        sa.CheckConstraint(
            "refunded_amount + pending_amount = amount", name=op.f("ck_credit_balance_refunds_parts_add_up")
        ),
        sa.CheckConstraint(
            "status in ('succeeded', 'pending')", name=op.f("ck_credit_balance_refunds_status_known")
        ),
        sa.CheckConstraint(
            "initiated_by in ('customer', 'platform')", name=op.f("ck_credit_balance_refunds_initiated_by_known")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_credit_balance_refunds_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_credit_balance_refunds_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_balance_refunds")),
    )
    op.create_index(
        "ix_credit_balance_refunds_account_created",
        "credit_balance_refunds",
        ["account_id", "created_at", "id"],
    )
    op.create_index("ix_credit_balance_refunds_created", "credit_balance_refunds", ["created_at", "id"])
    op.create_index(
        "ix_credit_balance_refunds_pending",
        "credit_balance_refunds",
        ["account_id"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("credit_balance_refunds")
    op.drop_constraint(op.f("ck_transactions_type_known"), "transactions", type_="check")
    op.create_check_constraint(op.f("ck_transactions_type_known"), "transactions", f"type in ({_TYPES_BEFORE})")
