"""auth: a token version per user (issue 21, finding 4)

Revision ID: 0012
Revises: 0011

A demoted admin kept admin powers until the access token expired. Access tokens now carry
the user's ``token_version``; a role change or a deactivation bumps it (api.auth.versions).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_version", sa.BigInteger(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    op.drop_column("users", "token_version")
