"""cards: who froze a card

Revision ID: 0011
Revises: 0010

A card the issuer froze (an admin: suspected fraud, a court order) could be unfrozen by its
customer (issue 21, finding 11). ``frozen_by`` and ``frozen_by_role`` keep who froze it; a
card frozen by staff is unfrozen by staff only.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cards", sa.Column("frozen_by", sa.String(length=32), nullable=True))
    op.add_column("cards", sa.Column("frozen_by_role", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("cards", "frozen_by_role")
    op.drop_column("cards", "frozen_by")
