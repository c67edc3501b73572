"""network: an authorization, a clear or a reverse in one statement (issue 24)

Revision ID: 0017
Revises: 0016

The network's hot routes made four round trips per message: ``idempotency_begin``, the
network function, the stored answer's insert, and the commit. ``network_authorize_once`` and
``network_resolve_once`` do the key's lock and look-up, the network function, and store the
answer (built as the API's JSON in SQL: ``json_timestamp`` writes times as pydantic does) in one
statement, which the API runs in autocommit. ``idempotency_save`` is the stored answer's insert
(``api.gateway.idempotency``'s, unchanged). Nothing existing changes: these are new functions.

The definitions applied are this revision's frozen copies (``api/migrations/sql/0017/``) of
``api/gateway/sql/json_timestamp.sql``, ``api/gateway/sql/idempotency_save.sql``,
``api/network/sql/network_authorize_once.sql`` and ``api/network/sql/network_resolve_once.sql``
(see ``api.migrations.replaceable``).
"""

from collections.abc import Sequence

from api.migrations import replaceable

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    replaceable.apply(
        revision, "json_timestamp", "idempotency_save", "network_authorize_once", "network_resolve_once"
    )


def downgrade() -> None:
    # Callers first.
    replaceable.drop(
        "network_resolve_once(text, text, bigint, text, interval, text, text, bigint, timestamptz, text,"
        " text[], integer)",
        "network_authorize_once(text, text, bigint, text, interval, text, text, text, bigint, text, text,"
        " text, text, text, timestamptz, text[], bigint)",
        "idempotency_save(text, text, text, integer, text, interval)",
        "json_timestamp(timestamptz, text)",
    )
