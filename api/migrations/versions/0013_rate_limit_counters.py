"""rate-limit counters in PostgreSQL, shared by every API process (issue 21, finding 8)

Revision ID: 0013
Revises: 0012

The per-IP, per-user and credential limits lived in each process's memory: two workers
allowed twice the limit. ``rate_limit_counters`` holds one fixed window per key, counted by
an atomic upsert (``api.gateway.ratelimit``). UNLOGGED: a crash forgets the open windows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("hits", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_counters")),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
