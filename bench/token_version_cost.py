"""What the token-version check costs the hot paths (issue 21, finding 4): A/B in one run.

    .venv/bin/python -m bench.token_version_cost [--requests 2000] [--repetitions 5]

One embedded PostgreSQL (``BenchEnv``) seeded as ``history_page`` seeds it (accounts, cards,
a customer per account, 20,000 transactions); two apps built by ``create_app`` on it, the
same but for the check: A as shipped (``api.auth.versions``: every bearer request compares the
token's ``ver`` with the user's version, from this process's memory, kept fresh by LISTEN/
NOTIFY), B with the check replaced by one that passes everything. Per repetition, in turn on
A and B: N ``GET /v1/accounts/{id}/transactions?limit=50`` (the history page) with the
customer's token, and N ``POST /v1/network/authorizations`` with the network's key. Prints
the median microseconds per request and the difference B to A. The authorization carries no
user token, so its difference is noise by construction: it shows the noise's size.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.auth.versions import TokenVersions, UserVersion
from bench.env import NETWORK_KEY, BenchEnv
from bench.product import MERCHANT
from bench.ratelimit_cost import in_process_client
from bench.seed import PASSWORD, account_id, card_id, seed_accounts, seed_transactions, user_email

ACCOUNTS = 200


class NoCheck(TokenVersions):
    """B: every token passes, no memory, no database."""

    def cached(self, user_id: str) -> UserVersion | None:  # noqa: ARG002
        return UserVersion(0, "customer", True, time.monotonic())

    def verify(self, entry: UserVersion | None, *, version: int) -> UserVersion:  # noqa: ARG002
        assert entry is not None
        return entry


def _client(url: str, home: Path, *, check: bool) -> TestClient:
    client = in_process_client(
        url,
        home,
        RATE_LIMIT_STORAGE_URI="memory://",
        RATE_LIMIT_PER_IP="1000000/minute",
        RATE_LIMIT_PER_USER="1000000/minute",
    )
    if not check:
        app: Any = client.app
        app.state.token_versions.stop()
        app.state.token_versions = NoCheck(app.state.token_versions._engine)
    return client


def _microseconds(client: TestClient, n: int, request: Any) -> float:
    began = time.perf_counter()
    for i in range(n):
        response = request(client, i)
        if response.status_code != 200:
            raise SystemExit(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return (time.perf_counter() - began) / n * 1e6


def main() -> None:
    out = sys.stdout.write
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    env = BenchEnv(quick=True)
    env.start()
    tmp = Path(tempfile.mkdtemp(prefix="token-version-cost-"))
    try:
        url = env.fresh_database("bench_token_version")
        seed_accounts(url, first=1, last=ACCOUNTS)
        seed_transactions(url, rows=20_000, accounts=ACCOUNTS, target=1, every=200)
        clients = {
            "A (checked)": _client(url, tmp / "a", check=True),
            "B (no check)": _client(url, tmp / "b", check=False),
        }
        login = {"grant_type": "password", "username": user_email(1), "password": PASSWORD}
        token = clients["A (checked)"].post("/v1/auth/token", data=login).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        history = f"/v1/accounts/{account_id(1)}/transactions?limit=50"
        keys = (f"tv-{n}" for n in itertools.count())

        def page(client: TestClient, _: int) -> Any:
            return client.get(history, headers=bearer)

        def authorize(client: TestClient, i: int) -> Any:
            card = card_id(2 + i % (ACCOUNTS - 1))
            body = {"card_id": card, "amount": 100, "currency": "USD", "merchant": MERCHANT}
            headers = {"X-Network-Key": NETWORK_KEY, "Idempotency-Key": next(keys)}
            return client.post("/v1/network/authorizations", json=body, headers=headers)

        paths = {"history page": page, "authorize": authorize}
        for client in clients.values():  # warm-up: pools, caches, first imports
            for request in paths.values():
                _microseconds(client, 100, request)
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repetitions):
            # A and B alternate every 50 requests, so the machine's drift meets both alike.
            for path, request in paths.items():
                spent = dict.fromkeys(clients, 0.0)
                for _ in range(0, args.requests, 50):
                    for name, client in clients.items():
                        spent[name] += _microseconds(client, 50, request) * 50
                for name in clients:
                    samples.setdefault((path, name), []).append(spent[name] / args.requests)
        reads = clients["A (checked)"].app.state.token_versions.reads  # type: ignore[attr-defined]
        for client in clients.values():
            client.__exit__(None, None, None)
    finally:
        env.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out(f"{args.repetitions} repetitions of {args.requests} requests per path and app, in process\n")
    out("| request | app | median µs/request | A - B |\n|---|---|---|---|\n")
    for path in paths:
        a = statistics.median(samples[(path, "A (checked)")])
        b = statistics.median(samples[(path, "B (no check)")])
        out(f"| {path} | A (checked) | {a:,.0f} | {a - b:+,.0f} µs ({(a - b) / b:+.1%}) |\n")
        out(f"| {path} | B (no check) | {b:,.0f} | |\n")
    out(f"database reads by A's check: {reads} (the first sight of the user)\n")


if __name__ == "__main__":
    main()
