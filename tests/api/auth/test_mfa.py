"""Staff's second factor and idle timeout (issue 21, finding 7), through the real API.

- TOTP enrolment and confirmation; the password grant then needs ``otp`` (``mfa_required``
  without it, ``invalid_grant`` with a wrong or replayed one), wrong codes count toward the lockout.
- Production: a staff member without a confirmed factor gets an enrolment-only token.
- A staff session idle for 15 minutes ends at its next refresh; steady use keeps it; customers
  are unaffected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.clock import Clock
from tests.api.audit.test_audit import events
from tests.conftest import problem, production_settings
from tests.factories import PASSWORD, LoggedIn, customer, login, register, unique_email, user_with_role


def password_form(email: str, otp: str | None = None, password: str = PASSWORD) -> dict[str, str]:
    form = {"grant_type": "password", "username": email, "password": password}
    if otp is not None:
        form["otp"] = otp
    return form


def refresh_form(refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


def next_code(secret: str) -> str:
    """The code of the next time step: valid now (window of one step), and never the one just used."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def enrol(api: TestClient, user: LoggedIn) -> str:
    r = api.post("/v1/me/mfa/totp", headers=user.headers, json={})
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/cardportal:")
    assert "issuer=cardportal" in body["otpauth_uri"]
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    return body["secret"]


def enrolled(api: TestClient, user: LoggedIn) -> str:
    secret = enrol(api, user)
    r = api.post("/v1/me/mfa/totp/confirm", headers=user.headers, json={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    return secret


def test_enrol_confirm_then_the_password_grant_needs_the_code(
    api: TestClient, session: Session, engine: Engine
) -> None:
    analyst = user_with_role(api, session, "analyst")
    problem(api.post("/v1/me/mfa/totp/confirm", headers=analyst.headers, json={"code": "123456"}), 409)
    first = enrol(api, analyst)
    secret = enrol(api, analyst)  # while pending, enrolling again replaces the secret
    assert secret != first
    # Kept sealed: the column holds neither the secret nor anything that decodes to it.
    with engine.connect() as conn:
        sealed = conn.execute(
            text("select secret_sealed from totp_credentials where user_id = :u"), {"u": analyst.user_id}
        ).scalar_one()
    assert secret.encode() not in bytes(sealed)

    # A pending factor does not change the sign-in yet.
    assert api.post("/v1/auth/token", data=password_form(analyst.email)).status_code == 200
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    problem(
        api.post("/v1/me/mfa/totp/confirm", headers=analyst.headers, json={"code": wrong}), 400, "invalid_otp"
    )
    problem(
        api.post("/v1/me/mfa/totp/confirm", headers=analyst.headers, json={"code": pyotp.TOTP(first).now()}),
        400,
    )
    r = api.post("/v1/me/mfa/totp/confirm", headers=analyst.headers, json={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200, r.text
    # Sessions opened with the password alone end, and the factor cannot be replaced by them.
    problem(api.get("/v1/me", headers=analyst.headers), 401, "token_revoked")
    problem(api.post("/v1/auth/token", data=refresh_form(analyst.refresh_token)), 400, "invalid_grant")

    problem(api.post("/v1/auth/token", data=password_form(analyst.email)), 400, "mfa_required")
    problem(api.post("/v1/auth/token", data=password_form(analyst.email, wrong)), 400, "invalid_grant")
    problem(api.post("/v1/auth/token", data=password_form(analyst.email, "12ab")), 400, "invalid_grant")
    # A wrong password with a right code is still a wrong password.
    code = next_code(secret)
    problem(
        api.post("/v1/auth/token", data=password_form(analyst.email, code, "wrong password!")),
        400,
        "invalid_grant",
    )
    r = api.post("/v1/auth/token", data=password_form(analyst.email, code))
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert api.get("/v1/me", headers=headers).json()["id"] == analyst.user_id
    # The same code again is a replay: refused.
    problem(api.post("/v1/auth/token", data=password_form(analyst.email, code)), 400, "invalid_grant")
    problem(api.post("/v1/me/mfa/totp", headers=headers, json={}), 409, "mfa_already_enrolled")

    assert [e["actor_id"] for e in events(engine, "auth.mfa_enrolled")] == [analyst.user_id] * 2
    assert [e["target"] for e in events(engine, "auth.mfa_confirmed")] == [analyst.user_id]
    assert [e["detail"]["reason"] for e in events(engine, "auth.mfa_confirm_failed")] == ["invalid_otp"] * 2
    reasons = [e["detail"]["reason"] for e in events(engine, "auth.login_failed")]
    assert reasons == ["otp_missing", "invalid_otp", "invalid_otp", "invalid_credentials", "invalid_otp"]
    assert [e["detail"]["mfa"] for e in events(engine, "auth.login")][-1] is True


def test_wrong_codes_count_toward_the_lockout(
    make_client: Callable[..., TestClient], session: Session
) -> None:
    api = make_client(LOGIN_MAX_FAILURES="3")
    admin = user_with_role(api, session, "admin")
    secret = enrolled(api, admin)
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    problem(api.post("/v1/auth/token", data=password_form(admin.email, wrong)), 400, "invalid_grant")
    problem(api.post("/v1/auth/token", data=password_form(admin.email, wrong)), 400, "invalid_grant")
    # The right password without a code neither counts nor clears the count.
    problem(api.post("/v1/auth/token", data=password_form(admin.email)), 400, "mfa_required")
    problem(api.post("/v1/auth/token", data=password_form(admin.email, wrong)), 400, "invalid_grant")
    problem(
        api.post("/v1/auth/token", data=password_form(admin.email, next_code(secret))), 429, "login_locked"
    )


def test_an_admin_resets_a_lost_factor(api: TestClient, session: Session, engine: Engine) -> None:
    finance = user_with_role(api, session, "finance")
    enrolled(api, finance)
    admin = user_with_role(api, session, "admin")
    r = api.post(f"/v1/admin/users/{finance.user_id}/mfa/reset", headers=admin.headers)
    assert r.status_code == 200, r.text
    again = login(api, finance.email)  # the password alone again (sandbox), then a new enrolment
    enrol(api, again)
    [event] = events(engine, "auth.mfa_reset")
    assert (event["actor_id"], event["target"], event["detail"]["was_confirmed"]) == (
        admin.user_id,
        finance.user_id,
        True,
    )
    problem(api.post(f"/v1/admin/users/{finance.user_id}/mfa/reset", headers=again.headers), 403)


# --- production: a second factor is required -----------------------------------------------------


@pytest.fixture(scope="module")
def production_app(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, warehouse_url: str
) -> FastAPI:
    from api.main import create_app

    settings = production_settings(
        tmp_path_factory.mktemp("production-mfa"),
        database_url,
    )
    return create_app(settings, database_url=database_url, warehouse_url=warehouse_url)


@pytest.fixture
def production(production_app: FastAPI, engine: Engine) -> Iterator[TestClient]:
    with TestClient(production_app) as client:
        yield client


def test_production_staff_without_a_factor_can_only_enrol(production: TestClient, session: Session) -> None:
    api = production
    admin = user_with_role(api, session, "admin")  # the password alone: an enrolment-only token
    assert api.get("/v1/me", headers=admin.headers).json()["role"] == "admin"
    for path in ("/v1/admin/users", "/v1/admin/audit-events", "/v1/reports", "/v1/accounts"):
        problem(api.get(path, headers=admin.headers), 403, "mfa_enrolment_required")
    problem(
        api.post(f"/v1/admin/users/{admin.user_id}/role", headers=admin.headers, json={"role": "admin"}),
        403,
        "mfa_enrolment_required",
    )
    # A refresh keeps the limit.
    renewed = api.post("/v1/auth/token", data=refresh_form(admin.refresh_token)).json()
    problem(
        api.get("/v1/admin/users", headers={"Authorization": f"Bearer {renewed['access_token']}"}),
        403,
        "mfa_enrolment_required",
    )
    secret = enrolled(api, admin)
    problem(api.post("/v1/auth/token", data=password_form(admin.email)), 400, "mfa_required")
    r = api.post("/v1/auth/token", data=password_form(admin.email, next_code(secret)))
    assert r.status_code == 200, r.text
    full = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert api.get("/v1/admin/users", headers=full).status_code == 200


def test_production_customers_need_no_second_factor(production: TestClient, session: Session) -> None:
    """The same production app, the same password grant: the customer is unaffected, the
    analyst beside them is held to enrolment."""
    person = customer(production)
    r = production.get("/v1/accounts", headers=person.headers)
    assert r.status_code == 200, r.text
    analyst = user_with_role(production, session, "analyst")
    problem(production.get("/v1/reports", headers=analyst.headers), 403, "mfa_enrolment_required")


# --- the staff idle timeout ----------------------------------------------------------------------


class SteppedClock(Clock):
    """The security clock moved by hand: ``wall_now`` is the real time plus ``ahead``."""

    def __init__(self) -> None:
        super().__init__()
        self.ahead = timedelta(0)

    def wall_now(self) -> datetime:  # type: ignore[override]
        return datetime.now(UTC) + self.ahead


@pytest.fixture
def stepped(make_client: Callable[..., TestClient]) -> tuple[TestClient, SteppedClock]:
    api = make_client()
    clock = SteppedClock()
    api.app.state.clock = clock  # type: ignore[attr-defined]
    return api, clock


def refresh(api: TestClient, token: str) -> Any:
    return api.post("/v1/auth/token", data=refresh_form(token))


def test_fifteen_idle_minutes_end_a_staff_session(
    stepped: tuple[TestClient, SteppedClock], session: Session, engine: Engine
) -> None:
    api, clock = stepped
    analyst = user_with_role(api, session, "analyst")
    clock.ahead = timedelta(minutes=15, seconds=1)
    body = problem(refresh(api, analyst.refresh_token), 400, "invalid_grant")
    assert body["reason"] == "session_idle"
    [event] = events(engine, "auth.session_idle")
    assert event["actor_id"] == analyst.user_id
    assert event["detail"]["family_revoked"] is True
    # The family is revoked: the token is spent for good.
    clock.ahead = timedelta(0)
    problem(refresh(api, analyst.refresh_token), 400, "invalid_grant")


def test_steady_use_keeps_a_staff_session(stepped: tuple[TestClient, SteppedClock], session: Session) -> None:
    api, clock = stepped
    admin = user_with_role(api, session, "admin")
    token = admin.refresh_token
    # An hour of work, a refresh every 5 minutes (when the staff access token expires).
    for minutes in range(5, 65, 5):
        clock.ahead = timedelta(minutes=minutes)
        r = refresh(api, token)
        assert r.status_code == 200, (minutes, r.text)
        assert r.json()["expires_in"] == 300  # staff access tokens: 5 minutes
        token = r.json()["refresh_token"]
    # Then 15 minutes and a second without a refresh: over.
    clock.ahead += timedelta(minutes=15, seconds=1)
    problem(refresh(api, token), 400, "invalid_grant")


def test_a_customer_has_no_idle_timeout(stepped: tuple[TestClient, SteppedClock], session: Session) -> None:
    """Three idle hours: the customer's session goes on, the staff member's beside it ends."""
    api, clock = stepped
    person = customer(api)
    finance = user_with_role(api, session, "finance")
    clock.ahead = timedelta(hours=3)
    r = refresh(api, person.refresh_token)
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] == 900  # customers keep 15-minute access tokens
    assert problem(refresh(api, finance.refresh_token), 400, "invalid_grant")["reason"] == "session_idle"


def test_a_customer_may_enrol_and_then_needs_the_code(api: TestClient) -> None:
    email = unique_email("mfa")
    register(api, email=email)
    person = login(api, email)
    secret = enrolled(api, person)
    problem(api.post("/v1/auth/token", data=password_form(email)), 400, "mfa_required")
    assert api.post("/v1/auth/token", data=password_form(email, next_code(secret))).status_code == 200
