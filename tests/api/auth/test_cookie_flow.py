"""The browser's cookie mode of /v1/auth/token and /v1/auth/logout (api/auth/cookies.py).

Every request here sends its cookies explicitly (the client's jar is emptied after
each answer), so a test can replay an old cookie the way an attacker would.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx
from fastapi import Response
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.auth import cookies
from tests.conftest import problem
from tests.factories import PASSWORD, register

SAME_ORIGIN = "http://testserver"
COOKIE_MODE = {"X-Token-Transport": "cookie", "Origin": SAME_ORIGIN}


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    parsed: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            parsed[name] = jar
    return parsed


def _sign_in(api: TestClient, email: str) -> httpx.Response:
    response = api.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD},
        headers=COOKIE_MODE,
    )
    api.cookies.clear()
    return response


def _refresh(api: TestClient, refresh: str | None, csrf: str | None, **headers: str) -> httpx.Response:
    sent = dict(COOKIE_MODE) | headers
    if refresh is not None:
        sent["Cookie"] = f"{cookies.REFRESH_COOKIE}={refresh}"
    if csrf is not None:
        sent[cookies.CSRF_HEADER] = csrf
    response = api.post("/v1/auth/token", data={"grant_type": "refresh_token"}, headers=sent)
    api.cookies.clear()
    return response


def _logout(api: TestClient, refresh: str, csrf: str | None, **headers: str) -> httpx.Response:
    sent = dict(COOKIE_MODE) | headers | {"Cookie": f"{cookies.REFRESH_COOKIE}={refresh}"}
    if csrf is not None:
        sent[cookies.CSRF_HEADER] = csrf
    response = api.post("/v1/auth/logout", headers=sent)
    api.cookies.clear()
    return response


def _pair(response: httpx.Response) -> tuple[str, str]:
    """The refresh cookie's value and the CSRF token of a successful cookie-mode answer."""
    assert response.status_code == 200, response.text
    set_cookies = _set_cookies(response)
    refresh = set_cookies[cookies.REFRESH_COOKIE][cookies.REFRESH_COOKIE].value
    csrf = response.json()["csrf_token"]
    assert set_cookies[cookies.CSRF_COOKIE][cookies.CSRF_COOKIE].value == csrf
    return refresh, csrf


def _signed_in(api: TestClient) -> tuple[str, str]:
    return _pair(_sign_in(api, register(api)["email"]))


def _revoked_families(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("select count(*) from refresh_tokens where revoked_at is not null")
            ).scalar_one()
        )


def test_sign_in_puts_the_refresh_token_in_an_httponly_strict_cookie(api: TestClient) -> None:
    response = _sign_in(api, register(api)["email"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "csrf_token"}  # no refresh token
    assert response.headers["cache-control"] == "no-store"
    set_cookies = _set_cookies(response)
    refresh = set_cookies[cookies.REFRESH_COOKIE][cookies.REFRESH_COOKIE]
    assert refresh["httponly"] is True
    assert refresh["samesite"].lower() == "strict"
    assert refresh["path"] == "/v1/auth"
    assert int(refresh["max-age"]) == 30 * 24 * 3600
    assert not refresh["secure"]  # sandbox over plain http; Secure everywhere else (below)
    csrf = set_cookies[cookies.CSRF_COOKIE][cookies.CSRF_COOKIE]
    assert csrf.value == body["csrf_token"]
    assert not csrf["httponly"]  # the page reads it after a reload
    assert csrf["samesite"].lower() == "strict"
    assert csrf["path"] == "/"
    assert api.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code == 200


def test_cookies_are_secure_outside_the_sandbox() -> None:
    response = Response()
    cookies.set_session_cookies(response, refresh_token="r", csrf_token="c", max_age=60, secure=True)
    headers = [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]
    assert len(headers) == 2
    assert all("Secure" in h and "SameSite=strict" in h for h in headers)
    assert any(h.startswith("cp_refresh=r;") and "HttpOnly" in h and "Path=/v1/auth" in h for h in headers)


def test_the_body_flow_sets_no_cookie(api: TestClient) -> None:
    email = register(api)["email"]
    response = api.post(
        "/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
    )
    api.cookies.clear()
    assert response.status_code == 200
    assert "refresh_token" in response.json()
    assert response.headers.get_list("set-cookie") == []


def test_refresh_from_the_cookie_rotates_both_cookies(api: TestClient) -> None:
    refresh, csrf = _signed_in(api)
    fresh_refresh, fresh_csrf = _pair(_refresh(api, refresh, csrf))
    assert fresh_refresh != refresh
    assert fresh_csrf != csrf
    # The old CSRF token does not go with the new cookie.
    problem(_refresh(api, fresh_refresh, csrf), 403, "csrf_failed")
    _pair(_refresh(api, fresh_refresh, fresh_csrf))


def test_csrf_is_refused_and_changes_nothing(api: TestClient, engine: Engine) -> None:
    refresh, csrf = _signed_in(api)
    problem(_refresh(api, refresh, None), 403, "csrf_failed")
    problem(_refresh(api, refresh, "0" * 64), 403, "csrf_failed")
    problem(_refresh(api, refresh, csrf, Origin="https://evil.example"), 403, "csrf_failed")
    problem(_refresh(api, refresh, csrf, Origin="http://testserver.evil.example"), 403, "csrf_failed")
    no_origin = dict(COOKIE_MODE)
    del no_origin["Origin"]
    response = api.post(
        "/v1/auth/token",
        data={"grant_type": "refresh_token"},
        headers=no_origin
        | {"Sec-Fetch-Site": "cross-site", "Cookie": f"cp_refresh={refresh}", cookies.CSRF_HEADER: csrf},
    )
    api.cookies.clear()
    problem(response, 403, "csrf_failed")
    problem(_logout(api, refresh, None), 403, "csrf_failed")
    problem(_logout(api, refresh, csrf, Origin="https://evil.example"), 403, "csrf_failed")
    assert _revoked_families(engine) == 0
    # The refused attempts spent nothing: the cookie still refreshes once.
    _pair(_refresh(api, refresh, csrf))


def test_sign_in_from_a_foreign_origin_is_refused(api: TestClient) -> None:
    email = register(api)["email"]
    response = api.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD},
        headers=COOKIE_MODE | {"Origin": "https://evil.example"},
    )
    problem(response, 403, "csrf_failed")
    assert response.headers.get_list("set-cookie") == []


def test_a_reused_cookie_revokes_the_family_and_clears_the_cookies(api: TestClient) -> None:
    refresh, csrf = _signed_in(api)
    fresh_refresh, fresh_csrf = _pair(_refresh(api, refresh, csrf))
    reused = _refresh(api, refresh, csrf)  # a stolen copy of the first cookie
    problem(reused, 400, "invalid_grant")
    cleared = _set_cookies(reused)
    assert cleared[cookies.REFRESH_COOKIE][cookies.REFRESH_COOKIE]["max-age"] == "0"
    assert cleared[cookies.CSRF_COOKIE][cookies.CSRF_COOKIE]["max-age"] == "0"
    # The whole family is gone, the legitimate newer cookie with it.
    problem(_refresh(api, fresh_refresh, fresh_csrf), 400, "invalid_grant")


def test_refresh_without_a_cookie_is_an_invalid_grant(api: TestClient) -> None:
    problem(_refresh(api, None, None), 400, "invalid_grant")


def test_logout_revokes_the_family_and_clears_the_cookies(api: TestClient, engine: Engine) -> None:
    refresh, csrf = _signed_in(api)
    response = _logout(api, refresh, csrf)
    assert response.status_code == 204, response.text
    cleared = _set_cookies(response)
    for name in (cookies.REFRESH_COOKIE, cookies.CSRF_COOKIE):
        assert cleared[name][name]["max-age"] == "0"
        assert cleared[name][name].value == ""
    assert _revoked_families(engine) == 1
    problem(_refresh(api, refresh, csrf), 400, "invalid_grant")


def test_logout_with_a_body_is_unchanged(api: TestClient) -> None:
    email = register(api)["email"]
    tokens = api.post(
        "/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
    ).json()
    assert api.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}).status_code == 204
    refreshed = api.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    problem(refreshed, 400, "invalid_grant")
    # A body that is not {refresh_token}: a 422, as before.
    problem(api.post("/v1/auth/logout", json={}), 422)
    # No body and no cookie: nothing to revoke, like an unknown token.
    assert api.post("/v1/auth/logout").status_code == 204
