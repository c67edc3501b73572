"""Baselines measured in the same run: PostgreSQL's own limits and a minimal FastAPI app."""

from __future__ import annotations

import random
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from bench.env import BenchEnv, Server, pg_bin, uvicorn_server
from bench.load import Connection
from bench.minimal_app import TABLE
from cardportal.database import libpq_conninfo

RAW_ACCOUNTS = 100
RAW_THREADS = 4

_RAW_SCHEMA = """
create table if not exists raw_accounts (
    id int primary key, balance bigint not null default 0, credit_limit bigint not null
);
create table if not exists raw_entries (
    id bigint generated always as identity primary key,
    account_id int not null, amount bigint not null, created_at timestamptz not null default now()
);
"""


def prepare_raw_ledger(url: str) -> None:
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(_RAW_SCHEMA)
        conn.execute("truncate raw_accounts, raw_entries")
        conn.execute(
            "insert into raw_accounts (id, credit_limit) "
            "select g, 1000000000000 from generate_series(1, %s) g",
            (RAW_ACCOUNTS,),
        )


def raw_ledger(url: str, *, seconds: float) -> tuple[float, float]:
    """The raw ledger transaction, 4 threads, one of 100 accounts: (tx/s, p99 ms).

    BEGIN; SELECT … FOR UPDATE; limit check; INSERT two entries; UPDATE balance; COMMIT.
    """
    stop = time.perf_counter() + seconds
    counts = [0] * RAW_THREADS
    latencies: list[list[float]] = [[] for _ in range(RAW_THREADS)]

    def worker(index: int) -> None:
        rng = random.Random(index)
        with psycopg.connect(libpq_conninfo(url)) as conn:
            while True:
                began = time.perf_counter()
                if began >= stop:
                    return
                account, amount = rng.randint(1, RAW_ACCOUNTS), rng.randint(100, 10_000)
                with conn.transaction():
                    row = conn.execute(
                        "select balance, credit_limit from raw_accounts where id = %s for update",
                        (account,),
                    ).fetchone()
                    assert row is not None
                    if row[0] + amount <= row[1]:
                        conn.execute(
                            "insert into raw_entries (account_id, amount) values (%s, %s), (0, %s)",
                            (account, amount, -amount),
                        )
                        conn.execute(
                            "update raw_accounts set balance = balance + %s where id = %s", (amount, account)
                        )
                counts[index] += 1
                latencies[index].append((time.perf_counter() - began) * 1000)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(RAW_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = sorted(x for chunk in latencies for x in chunk)
    p99 = merged[int(len(merged) * 0.99)] if merged else float("nan")
    return sum(counts) / seconds, p99


def pgbench_init(env: BenchEnv, *, scale: int = 10) -> None:
    env.fresh_database("bench_pgbench")
    subprocess.run(
        [pg_bin("pgbench"), "-i", "-q", "-s", str(scale), "bench_pgbench"],
        env=env.pg_env(),
        check=True,
        capture_output=True,
    )


def pgbench(env: BenchEnv, *, seconds: float) -> float:
    """pgbench's TPC-B-like script, ``-c 4 -j 2`` (after :func:`pgbench_init`): tps."""
    out = subprocess.run(
        [pg_bin("pgbench"), "-n", "-c", "4", "-j", "2", "-T", str(int(seconds)), "bench_pgbench"],
        env=env.pg_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"tps = ([0-9.]+)", out)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps: {out}")
    return float(match.group(1))


@contextmanager
def minimal_app(env: BenchEnv, url: str, *, workers: int) -> Iterator[Server]:
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute(TABLE)
    app_env = {**env.pg_env(), "BENCH_DATABASE_URL": libpq_conninfo(url)}
    with uvicorn_server(
        "bench.minimal_app:create",
        workers=workers,
        env=app_env,
        ready_path="/ping",
        log=env.root / "logs" / "minimal.log",
    ) as server:
        yield server


async def minimal_insert(conn: Connection, index: int) -> None:
    await conn.expect(200, "POST", "/insert", json_body={"name": f"user{index}", "amount": 1234})


async def ping(conn: Connection, _: int) -> None:
    await conn.expect(200, "GET", "/ping")
