"""Ten failed logins lock an email for 30 minutes, in PostgreSQL, and misses cost what hits cost."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.conftest import problem
from tests.factories import PASSWORD, register


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
