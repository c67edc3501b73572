"""Every answer carries X-Request-ID, and gateway-level errors are problem+json."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import problem
from tests.factories import customer


def test_request_id_is_generated_and_echoed(api: TestClient) -> None:
    first = api.get("/healthz").headers["x-request-id"]
    second = api.get("/healthz").headers["x-request-id"]
    assert first != second
    assert len(first) >= 16
    assert (
        api.get("/healthz", headers={"X-Request-ID": "caller-id-123"}).headers["x-request-id"]
        == "caller-id-123"
    )


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", "<script>"])
def test_an_unusable_request_id_is_replaced(api: TestClient, bad: str) -> None:
    rid = api.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
    assert rid != bad
    assert rid


def test_unknown_route_is_a_404_problem(api: TestClient) -> None:
    response = api.get("/v1/nothing-here", headers={"X-Request-ID": "rid-404"})
    body = problem(response, 404, "not_found")
    assert response.headers["x-request-id"] == "rid-404"
    assert body["request_id"] == "rid-404"
    assert "/v1/nothing-here" in body["detail"]


def test_wrong_method_is_a_405_problem(api: TestClient) -> None:
    response = api.delete("/v1/me", headers={"X-Request-ID": "rid-405"})
    problem(response, 405, "method_not_allowed")
    assert response.headers["x-request-id"] == "rid-405"
    assert "GET" in response.headers["allow"]
    problem(api.get("/v1/auth/token"), 405, "method_not_allowed")


def test_validation_error_carries_the_request_id(api: TestClient) -> None:
    response = api.post("/v1/auth/register", json={}, headers={"X-Request-ID": "rid-422"})
    body = problem(response, 422, "validation_error")
    assert response.headers["x-request-id"] == "rid-422"
    assert {"email", "password", "full_name"} <= {e["loc"][-1] for e in body["errors"]}


@pytest.mark.parametrize(
    "raw", [b"{", b'{"email": }', b"\xff\xfe", b"[1,2", b'{"email": "a@example.com",}', b"nul\x00"]
)
def test_malformed_json_is_a_400(api: TestClient, raw: bytes) -> None:
    response = api.post("/v1/auth/register", content=raw, headers={"Content-Type": "application/json"})
    problem(response, 400, "malformed_json")


def test_malformed_json_on_an_authenticated_route(api: TestClient) -> None:
    user = customer(api)
    response = api.post(
        "/v1/auth/logout",
        content=b'{"refresh_token": ',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    problem(response, 400, "malformed_json")


def test_security_headers_everywhere(api: TestClient) -> None:
    for response in (api.get("/healthz"), api.get("/nope"), api.post("/v1/auth/register", json={})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_authenticated_answers_are_not_cached(api: TestClient) -> None:
    user = customer(api)
    assert api.get("/v1/me", headers=user.headers).headers["cache-control"] == "no-store"
    # Even a refused bearer answer must not be cached.
    assert api.get("/v1/me", headers={"Authorization": "Bearer x"}).headers["cache-control"] == "no-store"


def test_health_and_readiness(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok"}
