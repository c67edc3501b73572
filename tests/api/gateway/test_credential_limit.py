"""A tight per-IP limit on the endpoints that hash a password (issue 21, finding 8):
`POST /v1/auth/token` (password grant) and `POST /v1/auth/register` share
`RATE_LIMIT_CREDENTIALS_PER_IP`, separate from the general per-IP limit, and are refused
with 429 and Retry-After before any argon2 work."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.auth import service
from tests.conftest import problem
from tests.factories import PASSWORD, unique_email


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password hash or verification the auth service makes."""
    calls: list[str] = []
    real_hash, real_verify = service.hash_password, service.verify_password

    def hash_password(password: str) -> str:
        calls.append("hash")
        return real_hash(password)

    def verify_password(password: str, password_hash: str) -> bool:
        calls.append("verify")
        return real_verify(password, password_hash)

    monkeypatch.setattr(service, "hash_password", hash_password)
    monkeypatch.setattr(service, "verify_password", verify_password)
    return calls


def _guess(client: TestClient, email: str) -> object:
    return client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": email, "password": "a wrong guess"}
    )


def test_the_default_credential_limit_is_ten_a_minute() -> None:
    from cardportal.settings import Settings

    assert Settings().rate_limit_credentials_per_ip == "10/minute"  # type: ignore[call-arg]


def test_password_grants_and_registrations_share_a_tight_per_ip_limit(
    make_client: Callable[..., TestClient], argon2_calls: list[str]
) -> None:
    client = make_client(RATE_LIMIT_CREDENTIALS_PER_IP="3/minute")  # the general limit stays high
    email = unique_email()
    assert (
        client.post(
            "/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": "A"}
        ).status_code
        == 201
    )
    problem(_guess(client, email), 400, "invalid_grant")
    problem(_guess(client, "someone-else@example.com"), 400, "invalid_grant")
    assert len(argon2_calls) == 3
    response = _guess(client, email)
    body = problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert body["retry_after"] == int(response.headers["retry-after"])
    response = client.post(
        "/v1/auth/register", json={"email": unique_email(), "password": PASSWORD, "full_name": "B"}
    )
    problem(response, 429, "rate_limited")
    assert "retry-after" in response.headers
    assert len(argon2_calls) == 3  # the refused ones cost no argon2 hash
    # The rest of the API is not limited by it, and another address has its own budget.
    assert client.get("/healthz").status_code == 200
    other = TestClient(client.app, client=("10.1.2.3", 4000))
    assert (
        other.post(
            "/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
        ).status_code
        == 200
    )


def test_refresh_grants_do_not_spend_the_credential_budget(make_client: Callable[..., TestClient]) -> None:
    client = make_client(RATE_LIMIT_CREDENTIALS_PER_IP="2/minute")
    email = unique_email()
    client.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": "A"})
    pair = client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
    ).json()
    for _ in range(5):  # a web app refreshing its access token (no argon2)
        pair = client.post(
            "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
        ).json()
        assert "access_token" in pair, pair
    problem(_guess(client, email), 429, "rate_limited")  # the budget was spent by the two above
