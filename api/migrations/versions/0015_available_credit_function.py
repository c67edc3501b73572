"""ledger: available credit defined once in SQL (issue 23, item 2)

Revision ID: 0015
Revises: 0014

``ledger_hold`` and ``network_authorize`` each computed a card account's available credit
(``limit - posted - pending``). ``account_available_credit`` is now its one SQL definition
and both call it; Python's copy (``api.ledger.service.available_credit``) is pinned to it by
a test. The figures are the same: this changes where the rule is written, nothing it answers.

The definitions applied are this revision's frozen copies (``api/migrations/sql/0015/``) of
``api/ledger/sql/account_available_credit.sql``, ``api/ledger/sql/ledger_hold.sql`` and
``api/network/sql/network_authorize.sql`` (see ``api.migrations.replaceable``).
"""

from collections.abc import Sequence

from api.migrations import replaceable

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    replaceable.apply(revision, "account_available_credit", "ledger_hold", "network_authorize")


def downgrade() -> None:
    # Callers back to 0007's definitions first, then the function they no longer call.
    replaceable.apply("0007", "ledger_hold", "network_authorize")
    replaceable.drop("account_available_credit(bigint, bigint, bigint)")
