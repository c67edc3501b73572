"""The engine's pool: no ping on a busy connection, a ping (and a fresh connection) after idling."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from api import db
from cardportal import database
from cardportal.database import libpq_conninfo


def _backend_pid(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(text("select pg_backend_pid()")).scalar_one())


def test_an_idle_connection_whose_server_went_away_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = _backend_pid(engine)
        with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
            assert admin.execute("select pg_terminate_backend(%s)", (first,)).fetchone() == (True,)
        # Every checked-in connection counts as idle: the checkout pings, fails, reconnects.
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        second = _backend_pid(engine)
        assert second != first
    finally:
        engine.dispose()


def test_only_a_connection_that_sat_idle_is_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.make_engine(database_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return bool(real_ping(dbapi_connection))

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # reused at once: no ping
        assert pings == []
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend_pid(engine) == first  # "idle": pinged, alive, kept
        assert len(pings) == 1
    finally:
        engine.dispose()
