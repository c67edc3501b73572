"""The API under test: a real ``uvicorn`` on the bench's database, and its load scenarios."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bench.env import NETWORK_KEY, BenchEnv, Server, uvicorn_server
from bench.load import Connection, HttpError, Scenario
from bench.seed import card_id

MERCHANT = {"name": "Bench Grocer", "mcc": "5411", "country": "US"}
# More connections than cores: the API's sync endpoints run in a thread pool and
# wait on PostgreSQL most of the time; 16 kept both cores busy in the bench's trials.
CONCURRENCY = 16


@contextmanager
def api_server(env: BenchEnv, url: str, *, workers: int, name: str, **settings: str) -> Iterator[Server]:
    with uvicorn_server(
        "api.main:app_factory",
        workers=workers,
        env=env.api_env(url, f"home-{name}", **settings),
        ready_path="/healthz",
        log=env.root / "logs" / f"{name}.log",
    ) as server:
        yield server


def _keys() -> Iterator[str]:
    run = uuid.uuid4().hex[:12]
    return (f"bench-{run}-{n}" for n in itertools.count())


def authorize(first: int, last: int, *, seed: int = 1) -> Scenario:
    """One authorization per operation on a random card of ``first..last``; must approve."""
    keys = _keys()
    rng = random.Random(seed)

    async def op(conn: Connection, _: int) -> None:
        body = {
            "card_id": card_id(rng.randint(first, last)),
            "amount": rng.randint(100, 10_000),
            "currency": "USD",
            "merchant": MERCHANT,
        }
        status, payload = await conn.request(
            "POST",
            "/v1/network/authorizations",
            headers={"X-Network-Key": NETWORK_KEY, "Idempotency-Key": next(keys)},
            json_body=body,
        )
        if status != 200 or b'"approved":true' not in payload:
            raise HttpError(f"authorize: {status} {payload[:300]!r}")

    return op


def authorize_and_clear(first: int, last: int, *, seed: int = 2) -> Scenario:
    """One pair per operation: authorize, then clear the full amount."""
    keys = _keys()
    rng = random.Random(seed)

    async def op(conn: Connection, _: int) -> None:
        amount = rng.randint(100, 10_000)
        body = {
            "card_id": card_id(rng.randint(first, last)),
            "amount": amount,
            "currency": "USD",
            "merchant": MERCHANT,
        }
        headers = {"X-Network-Key": NETWORK_KEY, "Idempotency-Key": next(keys)}
        answer = await conn.expect(200, "POST", "/v1/network/authorizations", headers=headers, json_body=body)
        if not answer["approved"]:
            raise HttpError(f"declined: {answer}")
        headers = {"X-Network-Key": NETWORK_KEY, "Idempotency-Key": next(keys)}
        await conn.expect(
            200,
            "POST",
            f"/v1/network/authorizations/{answer['id']}/clear",
            headers=headers,
            json_body={"amount": amount},
        )

    return op


async def healthz(conn: Connection, _: int) -> None:
    await conn.expect(200, "GET", "/healthz")


async def login(conn: Connection, email: str, password: str) -> str:
    form = f"grant_type=password&username={email}&password={password}".replace("@", "%40").encode()
    status, payload = await conn.request(
        "POST",
        "/v1/auth/token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=form,
    )
    if status != 200:
        raise HttpError(f"login: {status} {payload[:300]!r}")
    return str(json.loads(payload)["access_token"])
