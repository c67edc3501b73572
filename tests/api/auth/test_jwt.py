"""Access tokens: their claims, and every way a forged or stale one is refused."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from cardportal.settings import Settings
from tests.conftest import problem
from tests.factories import LoggedIn, customer


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(user: LoggedIn, settings: Settings) -> dict[str, Any]:
    return jwt.decode(
        user.access_token,
        settings.secret("jwt_secret"),
        algorithms=["HS256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )


def _me(api: TestClient, token: str):
    return api.get("/v1/me", headers={"Authorization": f"Bearer {token}"})


def test_access_token_claims(api: TestClient, settings: Settings) -> None:
    before = int(time.time())
    user = customer(api)
    claims = _claims(user, settings)
    assert set(claims) == {"iss", "aud", "exp", "iat", "jti", "sub", "role", "ver"}
    assert claims["iss"] == "cardportal"
    assert claims["aud"] == "cardportal-api"
    assert claims["sub"] == user.user_id
    assert claims["role"] == "customer"
    assert claims["jti"]
    assert before - 1 <= claims["iat"] <= int(time.time()) + 1
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert jwt.get_unverified_header(user.access_token)["alg"] == "HS256"


def test_each_token_has_its_own_jti(api: TestClient, settings: Settings) -> None:
    user = customer(api)
    again = api.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    ).json()
    other = LoggedIn(user.user_id, user.email, again["access_token"], again["refresh_token"])
    assert _claims(user, settings)["jti"] != _claims(other, settings)["jti"]


def _forge(user: LoggedIn, settings: Settings, kind: str) -> str:
    claims = _claims(user, settings)
    secret = settings.secret("jwt_secret")
    now = int(time.time())
    if kind == "alg-none":
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64(json.dumps(claims).encode())}."
    if kind == "alg-none-upper":
        header = _b64(json.dumps({"alg": "None", "typ": "JWT"}).encode())
        return f"{header}.{_b64(json.dumps(claims).encode())}."
    if kind == "tampered-payload":
        header, _, signature = user.access_token.split(".")
        payload = _b64(json.dumps({**claims, "role": "admin"}).encode())
        return f"{header}.{payload}.{signature}"
    if kind == "wrong-key":
        return jwt.encode(claims, "another-secret-that-is-long-enough-for-hs256", algorithm="HS256")
    if kind == "other-audience":
        return jwt.encode({**claims, "aud": "someone-else"}, secret, algorithm="HS256")
    if kind == "other-issuer":
        return jwt.encode({**claims, "iss": "evil"}, secret, algorithm="HS256")
    if kind == "expired":
        return jwt.encode({**claims, "iat": now - 3600, "exp": now - 60}, secret, algorithm="HS256")
    if kind == "hs512":  # a valid signature with another algorithm than the configured one
        return jwt.encode(claims, secret, algorithm="HS512")
    if kind == "no-sub":
        return jwt.encode({k: v for k, v in claims.items() if k != "sub"}, secret, algorithm="HS256")
    if kind == "no-exp":
        return jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret, algorithm="HS256")
    if kind == "sub-not-a-string":
        return jwt.encode({**claims, "sub": 42}, secret, algorithm="HS256")
    if kind == "garbage":
        return "eyJ.eyJ.sig"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("alg-none", "invalid_token"),
        ("alg-none-upper", "invalid_token"),
        ("tampered-payload", "invalid_token"),
        ("wrong-key", "invalid_token"),
        ("other-audience", "invalid_token"),
        ("other-issuer", "invalid_token"),
        ("expired", "token_expired"),
        ("hs512", "invalid_token"),
        ("no-sub", "invalid_token"),
        ("no-exp", "invalid_token"),
        ("sub-not-a-string", "invalid_token"),
        ("garbage", "invalid_token"),
    ],
)
def test_forged_or_stale_tokens_are_refused(
    api: TestClient, settings: Settings, kind: str, code: str
) -> None:
    user = customer(api)
    assert _me(api, user.access_token).status_code == 200
    response = _me(api, _forge(user, settings, kind))
    problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"
