"""More refusals of forged access tokens (beside test_jwt.py): not-yet-valid, audience lists,
missing claims, a self-promoted role on an admin route, and an expired admin token."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cardportal.settings import Settings
from tests.api.auth.test_jwt import _claims
from tests.conftest import problem
from tests.factories import customer, user_with_role


def _sign(claims: dict[str, Any], settings: Settings, **header: Any) -> str:
    return jwt.encode(claims, settings.secret("jwt_secret"), algorithm="HS256", headers=header or None)


@pytest.mark.parametrize(
    "change",
    [
        {"nbf": int(time.time()) + 3600},  # not valid before an hour from now
        {"iat": int(time.time()) + 3600},  # issued in the future
        {"aud": ["someone-else", "another"]},  # an audience list without ours
        {"iss": None},
        {"exp": "tomorrow"},
        {"role": None},
        {"jti": None},
    ],
    ids=["nbf-future", "iat-future", "audience-list", "no-iss", "exp-text", "no-role", "no-jti"],
)
def test_more_forged_claims_are_refused(api: TestClient, settings: Settings, change: dict[str, Any]) -> None:
    user = customer(api)
    claims = {k: v for k, v in {**_claims(user, settings), **change}.items() if v is not None}
    response = api.get("/v1/me", headers={"Authorization": f"Bearer {_sign(claims, settings)}"})
    problem(response, 401)


def test_a_customer_who_signs_herself_admin_with_a_guessed_key_is_refused(
    api: TestClient, settings: Settings
) -> None:
    user = customer(api)
    claims = {**_claims(user, settings), "role": "admin"}
    # Guesses padded to HS256's minimum key length (shorter keys only add a library warning).
    for key in ("secret", "cardportal", "changeme", settings.jwt_audience):
        key = key.ljust(32, "0")
        forged = jwt.encode(claims, key, algorithm="HS256")
        problem(
            api.get("/v1/admin/users", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token"
        )


def test_an_expired_admin_token_is_refused_on_admin_routes(
    api: TestClient, session: Session, settings: Settings
) -> None:
    admin = user_with_role(api, session, "admin")
    now = int(time.time())
    claims = {**_claims(admin, settings), "iat": now - 7200, "exp": now - 3600}
    response = api.get(
        "/v1/admin/audit-events", headers={"Authorization": f"Bearer {_sign(claims, settings)}"}
    )
    problem(response, 401, "token_expired")


def test_a_kid_or_jku_header_changes_nothing(api: TestClient, settings: Settings) -> None:
    """Key-selection headers are ignored: the key is the configured one, never one the token names."""
    user = customer(api)
    claims = _claims(user, settings)
    forged = jwt.encode(
        claims,
        "attacker-key-attacker-key-attacker-key",
        algorithm="HS256",
        headers={"kid": "../../dev/null", "jku": "https://evil.example/jwks.json"},
    )
    problem(api.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token")
