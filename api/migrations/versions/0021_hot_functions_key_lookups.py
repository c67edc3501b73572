"""network: the hot functions plan key look-ups, never scans (issue 24)

Revision ID: 0021
Revises: 0020

PL/pgSQL caches each statement's plan per connection. A plan made while a table was small (a new
database, the first minute of a deployment, the benchmarks' worlds) used a sequential scan, which
is cheaper than an index on a page or two, and it stayed a scan as the table grew, on every
connection of the pool, until an ANALYZE of the table made the connections plan again. Under the
``auth_clear`` load, ``transactions`` was scanned twice per batch of clears (12.6 million rows read
in 12 seconds) and ``ledger_accounts`` (116 live rows on pages full of their updated versions) six
times per message.

Every statement of these functions looks rows up by key, so their calls now set
``enable_seqscan = off`` (``set`` in the definition: for the call and the functions it calls, and
so for the plans they cache): the network's four entry points, ``network_authorize_once``,
``network_authorize_many``, ``network_resolve_once`` and ``network_resolve_many``. A table with no
usable index is still scanned; the setting only prices a scan out where an index serves. The
ledger service's own calls (``ledger_hold``, ``ledger_resolve_pending``) are left as they were:
on a new connection and a few rows, a hold and its posting scanned no table (measured as
``tests/api/network/test_plans.py`` measures), and a ``set`` costs each call the setting's save
and restore.

Measured (the bench's loads, 1 API worker, 100 accounts, idle machine, runs of 8 s): ``auth_clear``
629-746 → 877-884 pairs per second, PostgreSQL's CPU per pair 1.46-1.90 → 1.08-1.10 ms;
``authorize`` 1,772-1,872 → 1,867-1,984 per second.

The definitions applied are this revision's frozen copies (``api/migrations/sql/0021/``).
"""

from collections.abc import Sequence

from api.migrations import replaceable

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    replaceable.apply(
        revision, "network_authorize_once", "network_resolve_once", "network_authorize_many", "network_resolve_many"
    )


def downgrade() -> None:
    # Each one's definition before this revision (create or replace drops the ``set``).
    replaceable.apply("0017", "network_authorize_once", "network_resolve_once")
    replaceable.apply("0020", "network_authorize_many", "network_resolve_many")
