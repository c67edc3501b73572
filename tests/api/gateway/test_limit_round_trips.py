"""A request's per-IP and per-user counters are one call to the store (one round trip to
PostgreSQL): the gateway verifies the bearer token to know the user."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from fastapi.testclient import TestClient

from api.gateway import ratelimit
from tests.conftest import problem
from tests.factories import customer


def test_the_ip_and_user_counters_are_one_call(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(RATE_LIMIT_PER_USER="3/minute")
    user = customer(client)  # its own /v1/me is the user's first request
    calls: list[list[str]] = []
    real = ratelimit._upsert_on

    async def counted(conn: ratelimit.AsyncConnection, hits: Sequence[ratelimit.Hit]) -> list[int | None]:
        calls.append([namespace for _, namespace, _ in hits])
        return await real(conn, hits)

    monkeypatch.setattr(ratelimit, "_upsert_on", counted)
    assert client.get("/v1/me", headers=user.headers).status_code == 200
    assert calls == [["ip", "user"]]
    assert client.get("/v1/me", headers=user.headers).status_code == 200
    response = client.get("/v1/me", headers=user.headers)
    problem(response, 429, "rate_limited")
    assert "user" in response.json()["detail"]
    assert len(calls) == 3
