"""Database functions as replaceable objects: each migration applies its own frozen copy.

Where a function lives. Each PL/pgSQL or SQL function's source is one file in the
package of the domain whose rule it holds (``api/ledger/sql/``, ``api/network/sql/``,
``api/gateway/sql/``), named after the function: ``create or replace function ...``,
lower case, under a header that says which Python calls it and which rule it enforces.
That file is what a maintainer reads and edits; a test
(``tests/api/test_db_functions.py``) fails while the migrated database's definition of a
function differs from its file.

What a migration applies. Never the live file: an old migration must do tomorrow exactly
what it did the day it was written, whatever the file says by then. A migration that
(re)defines functions applies the copies frozen beside it, ``api/migrations/sql/<revision>/
<function>.sql``, through :func:`apply`. Those copies are never edited.

To change a function (or add one):

1. edit (or add) its file in the domain's ``sql/`` folder;
2. copy the file to ``api/migrations/sql/<new revision>/`` (``cp api/ledger/sql/ledger_hold.sql
   api/migrations/sql/0016/``) and put on the copy's first line
   ``-- Migration 0016's definition, frozen: never edit (api/migrations/replaceable.py).``;
3. add that migration: ``upgrade`` calls ``replaceable.apply("0016", "ledger_hold")``,
   ``downgrade`` calls ``replaceable.apply(<the revision that defined it before>,
   "ledger_hold")``, or :func:`drop` for a function the migration created. A change of a
   function's arguments or result is a new signature: drop the old one in the same migration.

The statements go to the driver as written, without parameters: SQLAlchemy would take a
body's ``':receivable'`` for a bind parameter, and psycopg its ``%`` for a placeholder.
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

SNAPSHOTS = Path(__file__).resolve().parent / "sql"


def frozen(revision: str, name: str) -> str:
    """The ``create or replace function`` statement of ``name`` as migration ``revision`` froze it."""
    return (SNAPSHOTS / revision / f"{name}.sql").read_text(encoding="utf-8")


def apply(revision: str, *names: str) -> None:
    """Create or replace each function from its copy frozen at ``revision``, in the order given
    (a function before those that call it)."""
    cursor = op.get_bind().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    for name in names:
        cursor.execute(frozen(revision, name))


def drop(*signatures: str) -> None:
    """Drop functions by signature (``ledger_house(text, text)``), callers first."""
    for signature in signatures:
        op.execute(f"drop function if exists {signature}")
