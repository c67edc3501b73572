"""Limits shared by every API process (issue 21, finding 8): in PostgreSQL by default, in a
real Redis with `RATE_LIMIT_STORAGE_URI=redis://…`. Two apps (two processes' worth of state)
on one store allow N requests in total, not 2N."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.gateway.redis_server import running_redis
from tests.conftest import problem

PASSWORD_FORM = {"grant_type": "password", "username": "nobody@example.com", "password": "not it at all"}


def _statuses(client: TestClient, times: int) -> list[int]:
    return [client.get("/healthz").status_code for _ in range(times)]


def _assert_shared(first: TestClient, second: TestClient) -> None:
    """Five per minute per IP, across both apps."""
    assert _statuses(first, 3) == [200, 200, 200]
    assert _statuses(second, 2) == [200, 200]
    response = second.get("/healthz")
    problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    problem(first.get("/healthz"), 429, "rate_limited")
    # Another address has its own budget, in both apps.
    assert TestClient(first.app, client=("10.9.8.7", 4000)).get("/healthz").status_code == 200


def test_the_default_storage_is_postgresql_shared_by_two_apps(make_client: Callable[..., TestClient]) -> None:
    first = make_client(RATE_LIMIT_PER_IP="5/minute")  # no RATE_LIMIT_STORAGE_URI: the default
    second = make_client(RATE_LIMIT_PER_IP="5/minute")
    assert first.app is not second.app
    _assert_shared(first, second)


def test_redis_storage_is_shared_by_two_apps(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    with running_redis(tmp_path) as uri:
        first = make_client(RATE_LIMIT_PER_IP="5/minute", RATE_LIMIT_STORAGE_URI=uri)
        second = make_client(RATE_LIMIT_PER_IP="5/minute", RATE_LIMIT_STORAGE_URI=uri)
        _assert_shared(first, second)


def test_the_credential_limit_is_shared_too(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    with running_redis(tmp_path) as uri:
        for storage in ({}, {"RATE_LIMIT_STORAGE_URI": uri}):
            first = make_client(RATE_LIMIT_CREDENTIALS_PER_IP="2/minute", **storage)
            second = make_client(RATE_LIMIT_CREDENTIALS_PER_IP="2/minute", **storage)
            problem(first.post("/v1/auth/token", data=PASSWORD_FORM), 400, "invalid_grant")
            problem(second.post("/v1/auth/token", data=PASSWORD_FORM), 400, "invalid_grant")
            problem(first.post("/v1/auth/token", data=PASSWORD_FORM), 429, "rate_limited")
            problem(second.post("/v1/auth/token", data=PASSWORD_FORM), 429, "rate_limited")
