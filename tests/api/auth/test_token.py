"""POST /v1/auth/token (password and refresh grants), logout and /v1/me."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.conftest import problem
from tests.factories import PASSWORD, customer, register, unique_email


def _password_grant(api: TestClient, username: str, password: str = PASSWORD):
    return api.post(
        "/v1/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )


def _refresh_grant(api: TestClient, refresh_token: str):
    return api.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _me(api: TestClient, access_token: str):
    return api.get("/v1/me", headers={"Authorization": f"Bearer {access_token}"})


def test_password_grant_answers_a_token_pair(api: TestClient) -> None:
    user = register(api)
    response = _password_grant(api, user["email"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"] != body["access_token"]
    assert response.headers["cache-control"] == "no-store"
    assert _me(api, body["access_token"]).json()["id"] == user["id"]


def test_login_normalises_the_email(api: TestClient) -> None:
    user = register(api, email=unique_email("mixed"))
    assert _password_grant(api, "  " + user["email"].upper() + " ").status_code == 200


def test_wrong_password_and_unknown_email_are_the_same_invalid_grant(api: TestClient) -> None:
    user = register(api)
    wrong = problem(_password_grant(api, user["email"], "not the password!"), 400, "invalid_grant")
    unknown = problem(_password_grant(api, "nobody@example.com"), 400, "invalid_grant")
    assert wrong["detail"] == unknown["detail"]  # nothing tells which one was wrong


def test_unsupported_and_missing_grant_types_are_refused(api: TestClient) -> None:
    problem(
        api.post("/v1/auth/token", data={"grant_type": "client_credentials"}), 400, "unsupported_grant_type"
    )
    response = api.post("/v1/auth/token", data={"username": "a@example.com", "password": PASSWORD})
    assert response.status_code in (400, 422)
    problem(response, response.status_code)
    problem(api.post("/v1/auth/token", data={"grant_type": "password"}), 400, "invalid_request")
    problem(api.post("/v1/auth/token", data={"grant_type": "refresh_token"}), 400, "invalid_request")


def test_refresh_rotates_and_the_old_token_is_spent(api: TestClient) -> None:
    first = customer(api)
    response = _refresh_grant(api, first.refresh_token)
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["refresh_token"] != first.refresh_token
    assert second["expires_in"] == 900
    assert _me(api, second["access_token"]).json()["id"] == first.user_id

    # The new one works once more...
    third = _refresh_grant(api, second["refresh_token"])
    assert third.status_code == 200, third.text
    # ...and the spent one is refused.
    problem(_refresh_grant(api, first.refresh_token), 400, "invalid_grant")


def test_reusing_a_spent_refresh_token_revokes_the_family(api: TestClient) -> None:
    first = customer(api)
    newest = _refresh_grant(api, first.refresh_token).json()["refresh_token"]
    other_session = _password_grant(api, first.email).json()["refresh_token"]

    problem(_refresh_grant(api, first.refresh_token), 400, "invalid_grant")  # a stolen copy is replayed
    # The newest token of that family stops working: the revocation was committed despite the 400.
    problem(_refresh_grant(api, newest), 400, "invalid_grant")
    # Another login (another family) is untouched.
    assert _refresh_grant(api, other_session).status_code == 200


def test_logout_revokes_the_family(api: TestClient) -> None:
    first = customer(api)
    newest = _refresh_grant(api, first.refresh_token).json()["refresh_token"]
    response = api.post("/v1/auth/logout", json={"refresh_token": first.refresh_token})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["x-request-id"]
    problem(_refresh_grant(api, newest), 400, "invalid_grant")


def test_logout_with_an_unknown_token_is_a_204_and_bad_bodies_are_problems(api: TestClient) -> None:
    assert api.post("/v1/auth/logout", json={"refresh_token": "rt_unknown"}).status_code == 204
    problem(api.post("/v1/auth/logout", json={}), 422, "validation_error")
    problem(api.post("/v1/auth/logout", json={"refresh_token": "x", "extra": 1}), 422, "validation_error")


def test_a_refresh_token_is_not_an_access_token(api: TestClient) -> None:
    user = customer(api)
    problem(_me(api, user.refresh_token), 401, "invalid_token")


def test_an_access_token_is_not_a_refresh_token(api: TestClient) -> None:
    user = customer(api)
    problem(_refresh_grant(api, user.access_token), 400, "invalid_grant")


def test_me_answers_the_user(api: TestClient) -> None:
    user = customer(api)
    response = api.get("/v1/me", headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == user.user_id
    assert body["email"] == user.email
    assert body["role"] == "customer"
    assert response.headers["cache-control"] == "no-store"


def test_me_needs_a_token(api: TestClient, engine: Engine) -> None:
    response = api.get("/v1/me")
    problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    problem(api.get("/v1/me", headers={"Authorization": "Bearer "}), 401)
    problem(api.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    problem(api.get("/v1/me", headers={"Authorization": "Bearer not.a.jwt"}), 401, "invalid_token")


def test_nul_bytes_in_the_login_form_are_not_a_500(api: TestClient) -> None:
    response = _password_grant(api, "nul\x00@example.com", "whatever password")
    assert response.status_code in (400, 422), response.text
    problem(response, response.status_code)
    response = _refresh_grant(api, "rt_\x00")
    problem(response, 400, "invalid_grant")
