"""CORS from the CORS_ORIGINS setting; readiness when the database is gone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from cardportal.database import database_on_same_server
from tests.conftest import make_settings, problem

ALLOWED = "https://app.cardportal.test"


def _preflight(client: TestClient, origin: str):
    return client.options(
        "/v1/me",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "Authorization",
        },
    )


def test_preflight_from_an_allowed_origin(make_client: Callable[..., TestClient]) -> None:
    client = make_client(CORS_ORIGINS=[ALLOWED])
    response = _preflight(client, ALLOWED)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert response.headers["x-request-id"]

    simple = client.get("/healthz", headers={"Origin": ALLOWED})
    assert simple.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


def test_another_origin_gets_no_cors_headers(make_client: Callable[..., TestClient]) -> None:
    client = make_client(CORS_ORIGINS=[ALLOWED])
    response = _preflight(client, "https://evil.example")
    assert "access-control-allow-origin" not in response.headers
    assert response.status_code >= 400
    simple = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_no_cors_without_the_setting(api: TestClient) -> None:
    response = _preflight(api, ALLOWED)
    assert "access-control-allow-origin" not in response.headers


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path, server_url: str) -> None:
    missing = database_on_same_server(server_url, "no_such_database_here")
    app = create_app(make_settings(tmp_path), database_url=missing)
    with TestClient(app) as client:
        problem(client.get("/readyz"), 503, "database_unavailable")
        assert client.get("/healthz").status_code == 200
