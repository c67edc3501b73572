"""Issue 21, finding 4: a demoted admin kept admin powers until the access token expired.

A role change takes effect at once, for tokens already issued too (API.md, Auth): the access
token by its version, the refresh tokens revoked; in every API process, without a database
round trip per request."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cardportal.settings import Settings
from tests.conftest import problem
from tests.factories import PASSWORD, login, user_with_role


def test_a_demoted_admin_loses_admin_powers_at_once(api: TestClient, session: Session) -> None:
    demoted = user_with_role(api, session, "admin")
    other = user_with_role(api, session, "admin")
    assert api.get("/v1/admin/users", headers=demoted.headers).status_code == 200

    r = api.post(f"/v1/admin/users/{demoted.user_id}/role", headers=other.headers, json={"role": "customer"})
    assert r.status_code == 200, r.text

    # The token issued as an admin: refused outright, not merely a 403 on admin paths.
    assert problem(api.get("/v1/admin/users", headers=demoted.headers), 401)["code"] == "token_revoked"
    assert problem(api.get("/v1/me", headers=demoted.headers), 401)["code"] == "token_revoked"
    # Its refresh token is revoked: no new admin token from it.
    refreshed = api.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": demoted.refresh_token}
    )
    assert problem(refreshed, 400)["code"] == "invalid_grant"
    # Signing in again gives a customer's token, which works, as a customer's.
    again = login(api, demoted.email, PASSWORD)
    assert api.get("/v1/me", headers=again.headers).json()["role"] == "customer"
    assert problem(api.get("/v1/admin/users", headers=again.headers), 403)["code"] == "insufficient_role"
    # Setting the same role again changes nothing: the new token stays good.
    api.post(f"/v1/admin/users/{demoted.user_id}/role", headers=other.headers, json={"role": "customer"})
    assert api.get("/v1/me", headers=again.headers).status_code == 200


def test_a_role_change_reaches_another_api_process(
    api: TestClient, session: Session, settings: Settings, database_url: str, warehouse_url: str
) -> None:
    """A second API process (its own app, engine and cache, as a second uvicorn worker has)
    that has the admin cached hears the change through LISTEN/NOTIFY and refuses the token."""
    from api.main import create_app

    second_app: FastAPI = create_app(settings, database_url=database_url, warehouse_url=warehouse_url)
    with TestClient(second_app) as second:
        assert second_app.state.token_versions.wait_listening()
        demoted = user_with_role(api, session, "admin")
        other = user_with_role(api, session, "admin")
        for _ in range(3):  # cached in the second process after its first read
            assert second.get("/v1/admin/users", headers=demoted.headers).status_code == 200
        assert second_app.state.token_versions.reads == 1

        api.post(f"/v1/admin/users/{demoted.user_id}/role", headers=other.headers, json={"role": "analyst"})
        deadline = time.monotonic() + 5
        while second.get("/v1/admin/users", headers=demoted.headers).status_code != 401:
            assert time.monotonic() < deadline, "the second process still honours the old token"
            time.sleep(0.01)


def test_checking_tokens_reads_a_user_once_not_per_request(
    api: TestClient, session: Session, app: FastAPI
) -> None:
    user = user_with_role(api, session, "customer")
    versions = app.state.token_versions
    versions.forget(user.user_id)
    before = versions.reads
    for _ in range(50):
        assert api.get("/v1/me", headers=user.headers).status_code == 200
    assert versions.reads - before == 1
