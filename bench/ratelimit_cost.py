"""What a shared rate limiter costs a request (issue 21, finding 8): A/B/C in one run.

    .venv/bin/python -m bench.ratelimit_cost [--requests 2000] [--repetitions 5]

One embedded PostgreSQL (``BenchEnv``) and one ``redis-server`` on a free loopback port;
three apps built by ``create_app`` on the same database, differing only in
``RATE_LIMIT_STORAGE_URI`` (``memory://``, ``database://``, ``redis://…``), each driven
in process through a ``TestClient``. Per repetition and per storage, in turn: N
``GET /healthz`` (one per-IP hit) and N/2 ``GET /v1/me`` with a bearer token (a per-IP and
a per-user hit, plus the route's own query), at the default limits, spread over client
addresses and users so that none is refused. Prints the median microseconds per request
and the difference to memory.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from bench.env import CARD_DATA_KEY, NETWORK_KEY, BenchEnv
from cardportal.settings import Settings

STORAGES = ("memory", "database", "redis")
USERS = 20


@contextmanager
def _redis(directory: Path) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: make redis-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ["--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), *options],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


def in_process_client(url: str, home: Path, **overrides: str) -> TestClient:
    """A sandbox app by ``create_app`` on the bench's database, driven in process, entered.
    Every such app signs with one JWT secret, so a token from one is good on the others."""
    values: dict[str, object] = {
        "CARDPORTAL_ENV": "sandbox",
        "CARDPORTAL_HOME": str(home),
        "NETWORK_API_KEY": NETWORK_KEY,
        "CARD_DATA_KEY": CARD_DATA_KEY,
        "JWT_SECRET": "bench-jwt-secret-" + "0" * 48,
        **overrides,
    }
    client = TestClient(create_app(Settings(**values), database_url=url))  # type: ignore[arg-type]
    client.__enter__()
    return client


def _client(url: str, home: Path, storage_uri: str) -> TestClient:
    # The defaults (1200/minute per IP, 600/minute per user): a moving window's cost grows with
    # the hits it holds, so a huge limit would flatter nobody.
    return in_process_client(
        url, home, RATE_LIMIT_STORAGE_URI=storage_uri, RATE_LIMIT_CREDENTIALS_PER_IP="1000/minute"
    )


def _microseconds(
    client: TestClient, path: str, tokens: list[str], n: int, addresses: Iterator[str]
) -> float:
    """Mean µs per request over n requests, a new client address every 400 requests (under
    the per-IP limit) and the users' tokens in turn (under the per-user limit)."""
    elapsed = 0.0
    for start in range(0, n, 400):
        caller = TestClient(client.app, client=(next(addresses), 4000))
        batch = min(400, n - start)
        began = time.perf_counter()
        for i in range(batch):
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"} if tokens else {}
            response = caller.get(path, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text}")
        elapsed += time.perf_counter() - began
    return elapsed / n * 1e6


def main() -> None:
    out = sys.stdout.write
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    env = BenchEnv(quick=True)
    env.start()
    tmp = Path(tempfile.mkdtemp(prefix="ratelimit-cost-"))
    try:
        url = env.fresh_database("bench_ratelimit")
        with _redis(tmp) as redis_uri:
            uris = {"memory": "memory://", "database": "database://", "redis": redis_uri}
            clients = {name: _client(url, tmp / name, uris[name]) for name in STORAGES}
            first = clients["memory"]
            tokens = []
            for u in range(USERS):
                email = f"bench{u}@example.com"
                form = {"email": email, "password": "correct horse battery", "full_name": "B"}
                assert first.post("/v1/auth/register", json=form).status_code == 201
                login = {"grant_type": "password", "username": form["email"], "password": form["password"]}
                tokens.append(first.post("/v1/auth/token", data=login).json()["access_token"])
            addresses = (f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in itertools.count(1))
            for client in clients.values():  # warm-up: pools, first imports
                _microseconds(client, "/healthz", [], 200, addresses)
                _microseconds(client, "/v1/me", tokens, 100, addresses)
            samples: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.repetitions):
                for name in STORAGES:
                    client = clients[name]
                    samples.setdefault(("healthz", name), []).append(
                        _microseconds(client, "/healthz", [], args.requests, addresses)
                    )
                    samples.setdefault(("me", name), []).append(
                        _microseconds(client, "/v1/me", tokens, args.requests // 2, addresses)
                    )
            for client in clients.values():
                client.__exit__(None, None, None)
    finally:
        env.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    n = args.requests
    out(f"{args.repetitions} repetitions, {n} GET /healthz and {n // 2} GET /v1/me each\n")
    out("| request | storage | median µs/request | vs memory |\n")
    out("|---|---|---|---|\n")
    for path in ("healthz", "me"):
        base = statistics.median(samples[(path, "memory")])
        for name in STORAGES:
            value = statistics.median(samples[(path, name)])
            out(f"| {path} | {name} | {value:,.0f} | {value - base:+,.0f} µs ({value / base:.2f}x) |\n")


if __name__ == "__main__":
    main()
