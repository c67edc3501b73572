"""Issue 21, finding 3: the warehouse's readers are logins of their own that can only read.

Before, the API's report reads and the dashboards connected as the warehouse's owner (a
superuser on the embedded server) and only set ``role=cardportal_reader`` and read-only
transactions as session options: ``SET ROLE NONE; SET TRANSACTION READ WRITE`` gave the owner
back. Now each reader logs in as a LOGIN role that is a member of ``cardportal_reader`` and
nothing else, with a password of its own; these tests log in as it, a second PostgreSQL login.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
from cardportal.warehouse import (
    DAGSTER_RUNS_COLUMNS,
    DASHBOARDS_LOGIN,
    LOGINS,
    REPORTS_LOGIN,
    as_login,
    grant_dagster_runs,
    reader_urls,
)
from tests.conftest import login_password
from tests.factories import user_with_role

REPORT_ID = "rpt_reader_boundary_0001"

# What a reader that got the owner back would do; each is refused for want of privilege.
WRITES = (
    "insert into reporting.report_files (id, name, period, period_start, format, path, size_bytes, "
    "sha256, run_id) values ('rpt_forged', 'forged', 'daily', '2026-01-01', 'csv', 'x.csv', 1, 'x', 'r')",
    "update reporting.report_files set path = '../../etc/passwd'",
    "delete from reporting.report_files",
    "truncate reporting.report_files",
    "drop table reporting.report_files",
    "alter table reporting.report_files add column evil text",
    "create table marts.evil (id int)",
    "create table public.evil (id int)",
    "create schema evil",
    "create role evil superuser login",
)


@pytest.fixture
def registered_report(warehouse_url: str, settings: Settings) -> Iterator[Path]:
    """A report file on disk and in the registry, written as the owner (what the pipelines do)."""
    path = settings.reports_dir / "daily" / "reader-boundary.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("period_start,purchase_volume_cents\n2026-01-01,100\n")
    with psycopg.connect(libpq_conninfo(warehouse_url), autocommit=True) as conn:
        conn.execute(
            "insert into reporting.report_files (id, name, period, period_start, format, path, "
            "size_bytes, sha256, run_id) values (%s, 'reader_boundary', 'daily', '2026-01-01', 'csv', "
            "'daily/reader-boundary.csv', %s, 'x', 'run')",
            (REPORT_ID, path.stat().st_size),
        )
    yield path
    with psycopg.connect(libpq_conninfo(warehouse_url), autocommit=True) as conn:
        conn.execute("delete from reporting.report_files where id in (%s, 'rpt_forged')", (REPORT_ID,))
    path.unlink()


def _owner(warehouse_url: str) -> str:
    owner = parse_url(warehouse_url).username
    assert owner
    return owner


def _in_a_read_write_transaction(conn: psycopg.Connection[tuple[object, ...]], statement: str) -> None:
    with conn.transaction():
        conn.execute("set transaction read write")
        conn.execute(statement)  # type: ignore[arg-type]


def _assert_only_reads(conn: psycopg.Connection[tuple[object, ...]], login: str, owner: str) -> None:
    """Logged in as ``login``: it reads, and no way back to the owner or to a write exists."""
    assert conn.execute("select count(*) from reporting.report_files").fetchone() is not None
    conn.execute("set role none")  # the old escape: back to the session's login
    row = conn.execute(
        "select current_user, session_user, rolsuper from pg_roles where rolname = current_user"
    )
    assert row.fetchone() == (login, login, False)
    for role in {owner, "postgres"}:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
    for statement in WRITES:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _in_a_read_write_transaction(conn, statement)


def test_the_warehouse_readers_are_logins_that_can_only_read(
    app: FastAPI,
    api: TestClient,
    session: Session,
    settings: Settings,
    database_url: str,
    warehouse_url: str,
    registered_report: Path,
) -> None:
    owner = _owner(warehouse_url)
    # Through the real API: the reports list and download through the reports' own login.
    finance = user_with_role(api, session, "finance")
    listed = api.get("/v1/reports", headers=finance.headers)
    assert listed.status_code == 200, listed.text
    assert REPORT_ID in [item["id"] for item in listed.json()["data"]]
    downloaded = api.get(f"/v1/reports/{REPORT_ID}/download", headers=finance.headers)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == registered_report.read_bytes()
    # The API's own report session, were an injection to reach it: the owner is out of reach.
    with app.state.warehouse_sessionmaker() as reports:
        assert reports.execute(text("select current_user, session_user")).one() == (
            REPORTS_LOGIN,
            REPORTS_LOGIN,
        )
        reports.execute(text("set role none"))
        assert reports.execute(text("select session_user")).scalar_one() == REPORTS_LOGIN
        reports.rollback()

    # A real second login with each URL the platform made for this home's readers.
    readers = reader_urls(settings, warehouse=warehouse_url, dagster=warehouse_url)
    for login, url in ((REPORTS_LOGIN, readers.reports), (DASHBOARDS_LOGIN, readers.dashboards_warehouse)):
        assert parse_url(url).username == login
        with psycopg.connect(url, autocommit=True) as conn:
            _assert_only_reads(conn, login, owner)
        # The operational database does not let it in at all.
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(as_login(database_url, login, login_password())).close()

    # The registry is as the owner left it.
    with psycopg.connect(libpq_conninfo(warehouse_url)) as conn:
        rows = conn.execute("select id, path from reporting.report_files where id like 'rpt_%%'").fetchall()
    assert (REPORT_ID, "daily/reader-boundary.csv") in rows
    assert not [row for row in rows if row[0] == "rpt_forged"]


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="the embedded server's pg_hba.conf")
@pytest.mark.parametrize("login", LOGINS)
def test_a_wrong_password_is_refused_on_the_embedded_server(warehouse_url: str, login: str) -> None:
    """initdb made the embedded server trust every local login; the platform's lines come first."""
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(as_login(warehouse_url, login, "not-" + login_password())).close()
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(as_login(warehouse_url, login, "")).close()


@pytest.fixture
def dagster_storage(server_url: str, database_url: str, reader_logins: None) -> Iterator[str]:
    """A Dagster storage database with a ``runs`` table shaped like Dagster's (the columns read)."""
    name = f"{parse_url(database_url).database}_dagster"
    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = database_on_same_server(server_url, name)
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(
            "create table runs (id serial primary key, run_id text, snapshot_id text, pipeline_name text, "
            "status text, run_body text, create_timestamp timestamp, update_timestamp timestamp)"
        )
        conn.execute(
            "insert into runs (run_id, pipeline_name, status, run_body, create_timestamp, update_timestamp) "
            "values ('r1', 'daily_job', 'SUCCESS', '{\"secret\": 1}', now(), now())"
        )
        conn.execute("create table event_logs (id serial primary key, event text)")
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def test_the_dashboards_read_the_run_list_of_dagster_and_nothing_else(
    settings: Settings, dagster_storage: str
) -> None:
    readers = reader_urls(settings, warehouse=dagster_storage, dagster=dagster_storage)
    with psycopg.connect(readers.dashboards_dagster, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select run_id from runs")  # not granted until Dagster's table exists
    assert grant_dagster_runs(dagster_storage)
    owner = _owner(dagster_storage)
    with psycopg.connect(readers.dashboards_dagster, autocommit=True) as conn:
        columns = ", ".join(DAGSTER_RUNS_COLUMNS)
        assert conn.execute(f"select {columns} from runs").fetchall()[0][:3] == ("r1", "daily_job", "SUCCESS")  # type: ignore[index]
        conn.execute("set role none")
        for denied in (
            "select run_body from runs",  # each run's configuration
            "select * from event_logs",
            "update runs set status = 'FAILURE'",
            "delete from runs",
            "create table public.evil (id int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                _in_a_read_write_transaction(conn, denied)
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(owner)))
