"""The network's hot functions look rows up by key whatever a table's size
(migration 0021): a plan cached while a table was small must not stay a scan as it grows.

Each test runs the real calls in one transaction and reads which tables that transaction
scanned (``pg_stat_xact_user_tables``), then rolls back. The tables here are a test's few rows,
where a scan is the cheaper plan; the control runs the same calls with the functions' setting
reset, and scans some of them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.network import repository
from cardportal.database import libpq_conninfo
from tests.factories import network_authorization, network_resolution, open_card_account

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
# The connection's table scans so far (those not yet flushed to the shared statistics included):
# read before and after the calls, in their transaction.
SCANS = "select relname, seq_scan from pg_stat_xact_user_tables"
HOT = (
    "network_authorize_once",
    "network_authorize_many",
    "network_resolve_once",
    "network_resolve_many",
)
# Each function's setting reset, in the control's transaction only.
RESET = (
    "do $$ declare f regprocedure; begin"
    " for f in select p.oid::regprocedure from pg_proc p where p.proname in ("
    + ", ".join(f"'{name}'" for name in HOT)
    + ") loop execute 'alter function ' || f::text || ' reset all'; end loop; end $$"
)


@pytest.fixture
def cards(app: FastAPI, session: Session) -> list[str]:
    """Three open accounts' cards, $1,000 limits."""
    return [open_card_account(session, app, credit_limit=1_000_00)[2] for _ in range(3)]


async def _network_scans(url: str, cards: list[str], *, reset: bool) -> set[str]:
    """Authorizations in a batch and alone, then their clears and a reversal the same way, in one
    transaction rolled back: the tables it scanned."""
    async with await psycopg.AsyncConnection.connect(libpq_conninfo(url)) as conn:
        before = dict(await (await conn.execute(SCANS)).fetchall())
        if reset:
            await conn.execute(RESET)
        batch = [network_authorization(card, 20_00 + n, NOW) for n, card in enumerate(cards)]
        rows = await repository.network_authorize_many(conn, batch)
        assert [row["outcome"] for row in rows] == ["ok"] * len(cards), rows
        alone = network_authorization(cards[0], 7_00, NOW)
        assert (await repository.network_authorize_once(conn, alone))["outcome"] == "ok"
        clears = [network_resolution(a["id"], "clear", a["amount"], LATER) for a in batch]
        rows = await repository.network_resolve_many(conn, clears)
        assert [row["outcome"] for row in rows] == ["ok"] * len(cards), rows
        reversal = network_resolution(alone["id"], "reversed", 0, LATER)
        assert (await repository.network_resolve_once(conn, reversal))["outcome"] == "ok"
        after = dict(await (await conn.execute(SCANS)).fetchall())
        await conn.rollback()
    return _scanned(before, after)


def _scanned(before: dict[Any, Any], after: dict[Any, Any]) -> set[str]:
    return {str(table) for table, scans in after.items() if scans > before.get(table, 0)}


def test_the_networks_statements_scan_no_table(database_url: str, cards: list[str]) -> None:
    assert asyncio.run(_network_scans(database_url, cards, reset=False)) == set()
    # The control: the same calls without the functions' setting scan some of the few rows'
    # tables (which ones depends on their sizes: ledger_accounts, transactions, cards, accounts).
    assert asyncio.run(_network_scans(database_url, cards, reset=True)) != set()
