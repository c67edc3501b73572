"""Ten failed logins lock an email for 30 minutes, in PostgreSQL, and misses cost what hits cost;
guessing on during a lock does not extend it, and an admin lifts it (issue 21, finding 8)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from tests.conftest import problem
from tests.factories import PASSWORD, login, register, user_with_role


def _login(api: TestClient, username: str, password: str):
    return api.post(
        "/v1/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )


def _fail(api: TestClient, username: str, times: int) -> None:
    for _ in range(times):
        problem(_login(api, username, "a wrong password"), 400, "invalid_grant")


def test_ten_failures_lock_the_email_even_for_the_right_password(api: TestClient, engine: Engine) -> None:
    user = register(api)
    _fail(api, user["email"], 9)
    assert _login(api, user["email"], PASSWORD).status_code == 200  # nine are forgiven by a success...
    _fail(api, user["email"], 10)  # ...the count starts over, and ten lock
    response = _login(api, user["email"], PASSWORD)
    body = problem(response, 429, "login_locked")
    assert 1790 <= int(response.headers["retry-after"]) <= 1800
    assert body["retry_after"] == int(response.headers["retry-after"])
    # Another spelling of the same email is the same lock.
    problem(_login(api, user["email"].upper(), PASSWORD), 429, "login_locked")
    with engine.connect() as conn:
        locked_until = conn.execute(
            text("select locked_until > now() + interval '29 minutes' from login_throttles where email = :e"),
            {"e": user["email"]},
        ).scalar_one()
    assert locked_until is True


def test_the_lock_survives_a_new_app(
    api: TestClient, make_client: Callable[..., TestClient], engine: Engine
) -> None:
    user = register(api)
    _fail(api, user["email"], 10)
    fresh = make_client()  # another process's app: nothing in memory is shared
    response = _login(fresh, user["email"], PASSWORD)
    problem(response, 429, "login_locked")
    assert int(response.headers["retry-after"]) > 1700


def test_unknown_emails_lock_too(api: TestClient, engine: Engine) -> None:
    _fail(api, "ghost@example.com", 10)
    problem(_login(api, "ghost@example.com", PASSWORD), 429, "login_locked")
    # A different email is not affected.
    problem(_login(api, "ghost2@example.com", PASSWORD), 400, "invalid_grant")


def test_a_lock_runs_out(api: TestClient, engine: Engine) -> None:
    user = register(api)
    _fail(api, user["email"], 10)
    problem(_login(api, user["email"], PASSWORD), 429, "login_locked")
    with engine.begin() as conn:  # thirty minutes pass
        conn.execute(text("update login_throttles set locked_until = now() - interval '1 second'"))
    assert _login(api, user["email"], PASSWORD).status_code == 200


def test_an_unknown_email_costs_about_what_a_wrong_password_costs(api: TestClient, engine: Engine) -> None:
    user = register(api)

    def median_seconds(username: str) -> float:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            assert _login(api, username, "not the right one").status_code == 400
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    _login(api, "warm-up@example.com", "x")  # first-call costs out of the measure
    unknown = median_seconds("nobody-here@example.com")
    wrong = median_seconds(user["email"])
    assert 1 / 3 < unknown / wrong < 3, (unknown, wrong)


def test_guessing_on_during_a_lock_does_not_extend_it(api: TestClient, engine: Engine) -> None:
    """Issue 21, finding 8: an attacker cannot hold someone's lock for ever by guessing on."""
    user = register(api)
    _fail(api, user["email"], 10)

    def locked_until() -> object:
        with engine.connect() as conn:
            return conn.execute(
                text("select locked_until from login_throttles where email = :e"), {"e": user["email"]}
            ).scalar_one()

    first = locked_until()
    for _ in range(15):
        problem(_login(api, user["email"], "still guessing"), 429, "login_locked")
    assert locked_until() == first
    with engine.begin() as conn:  # the lock runs out on time, and its owner gets in
        conn.execute(text("update login_throttles set locked_until = now() - interval '1 second'"))
    assert _login(api, user["email"], PASSWORD).status_code == 200


def test_an_admin_unlocks_a_login_at_once_and_it_is_audited(
    api: TestClient, session: Session, engine: Engine
) -> None:
    admin = user_with_role(api, session, "admin")
    user = register(api)
    _fail(api, user["email"], 10)
    problem(_login(api, user["email"], PASSWORD), 429, "login_locked")
    response = api.post(f"/v1/admin/users/{user['id']}/unlock", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == user["id"]
    assert _login(api, user["email"], PASSWORD).status_code == 200
    with engine.connect() as conn:
        event = conn.execute(
            text("select actor_id, target, detail from audit_events where action = 'auth.login_unlocked'")
        ).one()
    assert event.actor_id == admin.user_id
    assert event.target == user["id"]
    assert event.detail == {"was_locked": True}
    # Only admins; an unknown user is a 404.
    customer_headers = login(api, user["email"]).headers
    problem(api.post(f"/v1/admin/users/{user['id']}/unlock", headers=customer_headers), 403)
    problem(api.post("/v1/admin/users/usr_nobody/unlock", headers=admin.headers), 404, "user_not_found")


def test_a_locked_first_admin_is_unlocked_by_another_admin(api: TestClient, session: Session) -> None:
    first_admin = user_with_role(api, session, "admin")
    second_admin = user_with_role(api, session, "admin")
    _fail(api, first_admin.email, 10)
    problem(_login(api, first_admin.email, PASSWORD), 429, "login_locked")
    assert (
        api.post(f"/v1/admin/users/{first_admin.user_id}/unlock", headers=second_admin.headers).status_code
        == 200
    )
    assert _login(api, first_admin.email, PASSWORD).status_code == 200
