"""``api.notices.Listener`` through an outage: one warning when it loses its database, one when
it listens again, nothing in between (it retries each second)."""

from __future__ import annotations

import logging
import time
import uuid

import psycopg
import pytest
from sqlalchemy import create_engine

from api.db import with_driver
from cardportal.database import database_on_same_server, libpq_conninfo


def _wait(condition, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_listener_warns_once_per_outage_and_listens_again(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from api.notices import Listener

    name = f"notices_{uuid.uuid4().hex[:12]}"
    url = database_on_same_server(database_url, name)
    engine = create_engine(with_driver(url, "psycopg"))
    heard: list[str] = []
    listener = Listener(engine, "notices_test", heard.append, lambda: None, name="notices-test")
    with caplog.at_level(logging.DEBUG, logger="cardportal.notices"):
        listener.start()
        try:
            # Its database does not exist yet: an outage from the start, three retries long.
            time.sleep(2.5)
            assert not listener.listening
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert [r.getMessage() for r in warnings] == [
                "notices-test: listener lost its connection; retrying each second"
            ]
            assert warnings[0].exc_info is not None  # its cause, once
            assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) >= 1
            with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
                admin.execute(f"create database {name}")
            try:
                assert _wait(lambda: listener.listening)
                warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
                assert warnings[1:] == ["notices-test: listening again"]
                with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
                    conn.execute("notify notices_test, 'hello'")
                assert _wait(lambda: heard == ["hello"])
            finally:
                listener.stop()
                with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as admin:
                    admin.execute(f"drop database if exists {name} with (force)")
        finally:
            listener.stop()
            engine.dispose()
