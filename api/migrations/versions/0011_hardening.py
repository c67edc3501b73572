"""hardening: who froze a card, credit-limit requests (issue 21)

Revision ID: 0011
Revises: 0010

- A card the issuer froze (an admin: suspected fraud, a court order) could be unfrozen by
  its customer (finding 11). ``frozen_by`` and ``frozen_by_role`` keep who froze it; a card
  frozen by staff is unfrozen by staff only.
- One open card account per customer (finding 2): a higher limit is asked for on the account
  (``credit_limit_requests``), decided by the same underwriting.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cards", sa.Column("frozen_by", sa.String(length=32), nullable=True))
    op.add_column("cards", sa.Column("frozen_by_role", sa.String(length=16), nullable=True))
    op.create_table(
        "credit_limit_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("requested_credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("previous_credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("credit_limit", sa.BigInteger(), nullable=False),
        sa.Column("reasons", postgresql.ARRAY(sa.String(length=48)), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("credit_score", sa.BigInteger(), nullable=False),
        sa.Column("dti_bps", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_credit_limit_requests_account_id_accounts")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_credit_limit_requests_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_limit_requests")),
    )
    op.create_index(
        "ix_credit_limit_requests_account_created", "credit_limit_requests", ["account_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_credit_limit_requests_account_created", table_name="credit_limit_requests")
    op.drop_table("credit_limit_requests")
    op.drop_column("cards", "frozen_by_role")
    op.drop_column("cards", "frozen_by")
