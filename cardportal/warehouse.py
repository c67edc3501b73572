"""The warehouse's fixed parts, and Dagster's instance configuration.

The pipelines own what is in the warehouse; this module only makes sure the
places they write to and the read-only role exist, so the API (which reads
``reporting.report_files``) and the pipelines agree on them from the first
start:

- schemas ``raw``, ``reporting`` and ``marts`` (dbt creates the others);
- ``reporting.report_files``, the registry of report files;
- ``reporting.dbt_test_results``, the tests of each dbt build;
- ``reporting.published_days``, the business days whose marts were checked and
  published (the weekly and monthly reports wait for all of theirs);
- the role ``cardportal_reader`` (no login): usage on ``marts`` and
  ``reporting``, select on their tables.

Who reads it (issue 21, finding 3): the API's report endpoints and the
dashboards log in as roles of their own, ``cardportal_reports`` and
``cardportal_dashboards``, members of ``cardportal_reader`` and nothing else,
with passwords of their own. Their URLs are settings (``WAREHOUSE_READER_URL``,
``DASHBOARDS_WAREHOUSE_URL``, ``DASHBOARDS_DAGSTER_URL``); in sandbox the
platform creates the roles with random passwords kept in ``CARDPORTAL_HOME``
and builds the URLs (:func:`reader_urls`, :func:`ensure_reader_logins`). A
``SET ROLE NONE`` returns to a role that can only read; the owner's
credentials never reach a reader.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from cardportal.database import libpq_conninfo, parse_url, with_driver
from cardportal.settings import Settings

log = logging.getLogger(__name__)

READER_ROLE = "cardportal_reader"
# The LOGIN roles, members of READER_ROLE only: the API's report reads, and the dashboards
# (which also read Dagster's `runs`, a few columns of it, on Dagster's database).
REPORTS_LOGIN = "cardportal_reports"
DASHBOARDS_LOGIN = "cardportal_dashboards"
LOGINS = (REPORTS_LOGIN, DASHBOARDS_LOGIN)
# What the dashboards' run list reads of Dagster's storage, and nothing more (`run_body`
# holds each run's configuration).
DAGSTER_RUNS_COLUMNS = ("run_id", "pipeline_name", "status", "create_timestamp", "update_timestamp")
# The Dagster pool of every run that builds, publishes or reads the marts (pipelines/pools.py),
# and its limit: one such run in progress at a time.
MARTS_POOL = "warehouse_marts"
POOL_LIMITS = {MARTS_POOL: 1}

_DDL = f"""
create schema if not exists raw;
create schema if not exists reporting;
create schema if not exists marts;
create table if not exists reporting.report_files (
    id text primary key,
    name text not null,
    period text not null check (period in ('daily', 'weekly', 'monthly')),
    period_start date not null,
    format text not null,
    path text not null,
    size_bytes bigint not null check (size_bytes >= 0),
    sha256 text not null,
    run_id text not null,
    created_at timestamptz not null default now(),
    unique (name, period_start, format)
);
-- dbt's data and unit tests of each daily build (pipelines/dbt_results.py).
create table if not exists reporting.dbt_test_results (
    run_id text not null,
    invocation_id text,
    test_id text not null,
    test_name text not null,
    kind text not null check (kind in ('data_test', 'unit_test')),
    model text,
    status text not null,
    failures bigint,
    message text,
    executed_at timestamptz,
    recorded_at timestamptz not null default now(),
    primary key (run_id, test_id)
);
create index if not exists dbt_test_results_recorded on reporting.dbt_test_results (recorded_at);
create table if not exists reporting.published_days (
    day date primary key,
    run_id text not null,
    published_at timestamptz not null default now()
);
grant usage on schema reporting, marts to {READER_ROLE};
grant select on all tables in schema reporting to {READER_ROLE};
grant select on all tables in schema marts to {READER_ROLE};
"""


def ensure_reader_role(conn: psycopg.Connection[object]) -> None:
    """Create the read-only role once per server (roles are server-wide)."""
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (READER_ROLE,)).fetchone()
    if exists:
        return
    try:
        conn.execute(f"create role {READER_ROLE} nologin")
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        conn.rollback()  # another process created it first


def ensure_warehouse(url: str) -> None:
    """Schemas, the report registry and the reader role (idempotent; safe to run concurrently)."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        ensure_reader_role(conn)
        conn.commit()
        conn.execute("select pg_advisory_xact_lock(7423013)")
        conn.execute(_DDL)
        conn.commit()


def reader_connect_args() -> dict[str, str]:
    """Read-only transactions by default: a second guard, the login role being the boundary."""
    return {"options": "-c default_transaction_read_only=on"}


@dataclass(frozen=True)
class ReaderUrls:
    """Driver-less URLs of the reading logins (never an owner's)."""

    reports: str  # the warehouse as cardportal_reports: the API's report endpoints
    dashboards_warehouse: str  # the warehouse as cardportal_dashboards
    dashboards_dagster: str  # Dagster's storage as cardportal_dashboards (`runs` only)


def as_login(owner_url: str, login: str, password: str) -> str:
    """The owner's URL (server, database, TLS options) with another login and password."""
    url = parse_url(owner_url).set(username=login, password=password)
    return url.render_as_string(hide_password=False)


def reader_url(settings: Settings, configured: str | None, *, owner_url: str, login: str) -> str:
    """A reader's URL: the configured one, else (sandbox) ``login`` on the owner's server and
    database with the home's password. Builds the URL only; :func:`ensure_reader_logins`
    creates the role. Production settings refuse to start without the URLs: nothing is
    derived there."""
    if configured:
        return libpq_conninfo(configured)
    if settings.env == "production":  # unreachable past the settings' checks; never derive
        raise RuntimeError(f"no URL for the reading login {login} in production")
    return as_login(owner_url, login, settings.sandbox_login_password(login))


def reader_urls(settings: Settings, *, warehouse: str, dagster: str) -> ReaderUrls:
    """The three readers' URLs (see :func:`reader_url`)."""
    return ReaderUrls(
        reports=reader_url(settings, settings.warehouse_reader_url, owner_url=warehouse, login=REPORTS_LOGIN),
        dashboards_warehouse=reader_url(
            settings, settings.dashboards_warehouse_url, owner_url=warehouse, login=DASHBOARDS_LOGIN
        ),
        dashboards_dagster=reader_url(
            settings, settings.dashboards_dagster_url, owner_url=dagster, login=DASHBOARDS_LOGIN
        ),
    )


def ensure_login(conn: psycopg.Connection[object], login: str, password: str) -> None:
    """``login`` exists, can log in with ``password``, is a member of the reader role (INHERIT)
    and has no attribute beyond LOGIN. Serialised server-wide: concurrent ALTER ROLEs of one
    role fail with "tuple concurrently updated"."""
    ensure_reader_role(conn)
    conn.commit()
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(7423015)")
        attributes = sql.SQL(
            "login inherit nosuperuser nocreatedb nocreaterole noreplication nobypassrls password {}"
        ).format(sql.Literal(password))
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(sql.SQL(verb + " role {} with ").format(sql.Identifier(login)) + attributes)
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(READER_ROLE), sql.Identifier(login)))


def ensure_reader_logins(
    settings: Settings, *, warehouse: str, dagster: str, operational: str | None = None
) -> ReaderUrls:
    """Sandbox: the reading logins on the owners' servers, with the home's passwords; their URLs.

    Production (and any URL configured) is left to the operator: the roles are theirs to make
    (README, production). Also takes PUBLIC's CONNECT on the operational database, so a
    reader cannot even list its tables, and grants the dashboards' few columns of Dagster's
    ``runs`` once Dagster has made the table (:func:`grant_dagster_runs`).
    """
    urls = reader_urls(settings, warehouse=warehouse, dagster=dagster)
    if settings.env == "production":
        return urls
    made: set[tuple[str, str]] = set()
    for login, owner_url, configured in (
        (REPORTS_LOGIN, warehouse, settings.warehouse_reader_url),
        (DASHBOARDS_LOGIN, warehouse, settings.dashboards_warehouse_url),
        # Dagster's storage may be a server of its own: the login is made there too.
        (DASHBOARDS_LOGIN, dagster, settings.dashboards_dagster_url),
    ):
        server = _server_of(owner_url)
        if configured or (login, server) in made:
            continue
        with psycopg.connect(libpq_conninfo(owner_url)) as conn:
            ensure_login(conn, login, settings.sandbox_login_password(login))
        made.add((login, server))
    if operational:
        close_operational_database(operational)
    if not settings.dashboards_dagster_url:
        grant_dagster_runs(dagster)
    return urls


def _server_of(url: str) -> str:
    """Which server a URL names (roles are per server): host, port and socket folder."""
    parsed = parse_url(url)
    return f"{parsed.host}:{parsed.port}:{parsed.query.get('host')}"


def close_operational_database(operational: str) -> None:
    """Revoke PUBLIC's CONNECT (and TEMP) on the operational database: only its owner (and
    superusers) connect, so the reading logins see none of it, not even its catalog."""
    with psycopg.connect(libpq_conninfo(operational), autocommit=True) as conn:
        name = conn.execute("select current_database()").fetchone()
        assert name is not None
        try:
            conn.execute(
                sql.SQL("revoke connect, temporary on database {} from public").format(
                    sql.Identifier(name[0])
                )
            )
        except psycopg.errors.InsufficientPrivilege:
            log.warning("not the owner of database %s: PUBLIC keeps CONNECT on it", name[0])


def grant_dagster_runs(dagster: str) -> bool:
    """The dashboards' login may read a few columns of Dagster's ``runs``; False while Dagster
    has not made the table yet (its webserver makes it on first start)."""
    with psycopg.connect(libpq_conninfo(dagster), autocommit=True) as conn:
        row = conn.execute("select to_regclass('public.runs') is not null").fetchone()
        if not row or not row[0]:
            return False
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in DAGSTER_RUNS_COLUMNS)
        conn.execute(
            sql.SQL("grant select ({}) on table public.runs to {}").format(
                columns, sql.Identifier(DASHBOARDS_LOGIN)
            )
        )
    return True


def grant_dagster_runs_when_ready(
    dagster: str, *, timeout: float = 600.0, every: float = 5.0
) -> threading.Thread:
    """Grant once Dagster's webserver has made its tables (``cardportal up`` starts both at once)."""

    def wait_and_grant() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if grant_dagster_runs(dagster):
                    return
            except psycopg.Error as exc:
                log.debug("Dagster's storage not readable yet: %s", exc)
            time.sleep(every)
        log.warning("Dagster's runs table never appeared: the dashboards will not list runs")

    thread = threading.Thread(target=wait_and_grant, name="dagster-runs-grant", daemon=True)
    thread.start()
    return thread


def dagster_storage_url(url: str) -> str:
    """Dagster's storage needs the psycopg2 driver named (see RECIPES.md)."""
    return with_driver(url, "psycopg2")


def write_dagster_yaml(dagster_home: Path, dagster_url: str) -> Path:
    """``$DAGSTER_HOME/dagster.yaml``: runs, events and schedules in PostgreSQL; the run queue.

    Pools are enforced per run (``granularity: run``) with a default limit of 1: see
    :mod:`pipelines.pools` for why the marts need the run, not the step, as the unit.

    The URL itself is read from ``DAGSTER_PG_URL`` when Dagster starts, so no
    password is written to disk; the launcher and the tests set it.
    """
    parse_url(dagster_url)  # refuse anything but PostgreSQL early
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    path.write_text(
        "# Written by cardportal; the URL comes from DAGSTER_PG_URL "
        "(postgresql+psycopg2://..., see RECIPES.md).\n"
        "storage:\n"
        "  postgres:\n"
        "    postgres_url:\n"
        "      env: DAGSTER_PG_URL\n"
        "run_coordinator:\n"
        "  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        "# Two runs at once; runs holding pool warehouse_marts (dbt, checks, publish, reports) one at\n"
        "# a time, each holding it for the whole run (pipelines/pools.py).\n"
        "concurrency:\n"
        "  runs:\n"
        "    max_concurrent_runs: 2\n"
        "  pools:\n"
        "    granularity: run\n"
        "    default_limit: 1\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
    return path


def dagster_environment(dagster_home: Path, dagster_url: str) -> dict[str, str]:
    """The environment a Dagster process of this platform runs with."""
    return {"DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_URL": dagster_storage_url(dagster_url)}
