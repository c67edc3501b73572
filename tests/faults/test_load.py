"""A bounded load run through real HTTP: logins, authorizations, clears, payments and list pages.

Concurrent asyncio clients (httpx.AsyncClient, keep-alive) drive the API in a
child process for ``LOAD_SECONDS`` (20 by default, at most 60 in CI). Afterwards:
no 5xx, no account over its limit, the ledger balanced. Latencies (p50, p99)
and throughput go to ``bench/results/load.json`` (figures, never asserted).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.ledger import service as ledger
from cardportal.stripe_emulator import Emulator
from tests.factories import PASSWORD
from tests.faults.conftest import write_result
from tests.faults.harness import GOOD_MERCHANT, NETWORK, ApiProcess, Holder, make_holders

LOAD_SECONDS = min(float(os.environ.get("LOAD_SECONDS", "20")), 60.0)
CLIENTS = int(os.environ.get("LOAD_CLIENTS", "16"))
HOLDERS = 8


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@pytest.mark.slow
def test_many_clients_at_once_leave_no_5xx_and_a_balanced_ledger(
    database_url: str,
    engine: Engine,
    stripe_emulator: Emulator,
    new_payment_method: Callable[[], str],
    tmp_path: Path,
) -> None:
    api = ApiProcess(database_url, tmp_path / "home", stripe_url=stripe_emulator.url)
    api.start()
    try:
        holders = make_holders(api.url, HOLDERS, opening_balance=200_000)
        emails = _emails(engine)
        methods = {h.account_id: new_payment_method() for h in holders}
        latencies, statuses, elapsed = asyncio.run(_drive(api.url, holders, emails, methods))
    finally:
        api.stop()

    server_errors = {kind: codes for kind, codes in statuses.items() if any(c >= 500 for c in codes)}
    assert server_errors == {}
    total = sum(len(v) for v in latencies.values())
    assert total > 0
    with Session(engine) as session:
        result = ledger.trial_balance(session)
        assert result.balanced, result
        assert ledger.unbalanced_transfers(session) == []
        over = session.execute(
            text(
                "select a.id from accounts a join ledger_accounts l on l.id = a.id || :suffix "
                "where l.posted_balance + l.pending_balance > a.credit_limit"
            ),
            {"suffix": ":receivable"},
        ).all()
        assert over == []

    everything = [v for values in latencies.values() for v in values]
    write_result(
        "load",
        {
            "client": "httpx.AsyncClient, keep-alive, one process (may be the limit above ~250 rps)",
            "clients": CLIENTS,
            "seconds": round(elapsed, 2),
            "requests": total,
            "throughput_rps": round(total / elapsed, 1),
            "p50_ms": round(_percentile(everything, 0.50), 2),
            "p99_ms": round(_percentile(everything, 0.99), 2),
            "server_errors": 0,
            "by_kind": {
                kind: {
                    "requests": len(values),
                    "p50_ms": round(_percentile(values, 0.50), 2),
                    "p99_ms": round(_percentile(values, 0.99), 2),
                    "mean_ms": round(statistics.fmean(values), 2),
                    "statuses": {str(c): statuses[kind].count(c) for c in sorted(set(statuses[kind]))},
                }
                for kind, values in sorted(latencies.items())
            },
        },
    )


def _emails(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("select email from users where email like 'crash%'"))]


async def _drive(
    url: str, holders: list[Holder], emails: list[str], methods: dict[str, str]
) -> tuple[dict[str, list[float]], dict[str, list[int]], float]:
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, list[int]] = defaultdict(list)
    pending: list[str] = []
    deadline = time.monotonic() + LOAD_SECONDS
    counter = iter(range(10**9))

    async def call(
        client: httpx.AsyncClient, kind: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        started = time.perf_counter()
        response = await client.request(method, path, **kwargs)
        latencies[kind].append((time.perf_counter() - started) * 1000)
        statuses[kind].append(response.status_code)
        return response

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            while time.monotonic() < deadline:
                holder = rng.choice(holders)
                roll = rng.random()
                key = {"Idempotency-Key": f"load-{seed}-{next(counter)}"}
                if roll < 0.40:
                    # Mostly small purchases; now and then one near or over the limit (a decline).
                    amount = rng.choice([rng.randint(100, 5_000), rng.randint(100_000, 400_000)])
                    body = {
                        "card_id": holder.card_id,
                        "amount": amount,
                        "currency": "USD",
                        "merchant": GOOD_MERCHANT,
                    }
                    r = await call(
                        client,
                        "authorize",
                        "POST",
                        "/v1/network/authorizations",
                        json=body,
                        headers=NETWORK | key,
                    )
                    if r.status_code == 200 and r.json()["approved"]:
                        pending.append(r.json()["id"])
                elif roll < 0.60 and pending:
                    auth_id = pending.pop(rng.randrange(len(pending)))
                    await call(
                        client,
                        "clear",
                        "POST",
                        f"/v1/network/authorizations/{auth_id}/clear",
                        json={"amount": 100},
                        headers=NETWORK | key,
                    )
                elif roll < 0.65:
                    body = {"amount": rng.randint(100, 2_000), "payment_method": methods[holder.account_id]}
                    await call(
                        client,
                        "payment",
                        "POST",
                        f"/v1/accounts/{holder.account_id}/payments",
                        json=body,
                        headers=holder.headers | key,
                    )
                elif roll < 0.68:
                    form = {"grant_type": "password", "username": rng.choice(emails), "password": PASSWORD}
                    await call(client, "login", "POST", "/v1/auth/token", data=form)
                elif roll < 0.85:
                    await call(
                        client,
                        "transactions_page",
                        "GET",
                        f"/v1/accounts/{holder.account_id}/transactions?limit=20",
                        headers=holder.headers,
                    )
                else:
                    await call(
                        client, "account", "GET", f"/v1/accounts/{holder.account_id}", headers=holder.headers
                    )

    started = time.monotonic()
    await asyncio.gather(*(worker(seed) for seed in range(CLIENTS)))
    return latencies, statuses, time.monotonic() - started
