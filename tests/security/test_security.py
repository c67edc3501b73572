"""Security checks, each a test: secrets never leak, ids never cross customers, roles hold,
the login lockout holds under parallel guessing, stale webhooks are refused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cards.models import Card
from cardportal.settings import Settings
from tests.api.payments.conftest import event_body, sign
from tests.conftest import problem
from tests.factories import (
    GROCER,
    NETWORK_HEADERS,
    PASSWORD,
    LoggedIn,
    approved_customer,
    register,
    user_with_role,
)
from tests.security.scan import luhn_valid

# Not inside an id (hex request ids hold digit runs) nor the fraction of a logged duration.
_SIXTEEN_DIGITS = re.compile(r"(?<![0-9A-Za-z.])\d{16}(?![0-9A-Za-z])")


def _world(api: TestClient, session: Session) -> tuple[LoggedIn, str, str, LoggedIn]:
    """A customer who applied, spent, froze and unfroze; an admin who moved the clock past a statement."""
    admin = user_with_role(api, session, "admin")
    user, account_id, card_id = approved_customer(api)
    for amount in (1_250, 9_900):
        auth = api.post(
            "/v1/network/authorizations",
            headers=NETWORK_HEADERS,
            json={"card_id": card_id, "amount": amount, "currency": "USD", "merchant": GROCER},
        ).json()
        assert auth["approved"], auth
    cleared = api.post(
        f"/v1/network/authorizations/{auth['id']}/clear", headers=NETWORK_HEADERS, json={"amount": 9_900}
    )
    assert cleared.status_code == 200
    api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers)
    api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers)
    advanced = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 35})
    assert advanced.status_code == 200, advanced.text
    return user, account_id, card_id, admin


def test_no_card_number_password_token_or_secret_leaks(
    api: TestClient, session: Session, app: FastAPI, settings: Settings
) -> None:
    user, account_id, card_id, admin = _world(api, session)
    refreshed = api.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    )
    assert refreshed.status_code == 200
    api.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": user.email, "password": "a wrong guess!"},
    )

    bodies = []
    for path, headers in [
        ("/v1/me", user.headers),
        ("/v1/accounts", user.headers),
        (f"/v1/accounts/{account_id}", user.headers),
        (f"/v1/accounts/{account_id}/cards", user.headers),
        (f"/v1/accounts/{account_id}/transactions", user.headers),
        (f"/v1/accounts/{account_id}/statements", user.headers),
        (f"/v1/cards/{card_id}/controls", user.headers),
        ("/v1/applications", user.headers),
        ("/v1/admin/users", admin.headers),
        ("/v1/admin/audit-events?limit=200", admin.headers),
        ("/v1/admin/ledger/trial-balance", admin.headers),
    ]:
        response = api.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        bodies.append(response.text)
    statement_id = json.loads(bodies[5])["data"][0]["id"]
    bodies.append(api.get(f"/v1/statements/{statement_id}", headers=user.headers).text)

    session.expire_all()
    pans = [
        app.state.card_vault.decrypt(c.pan_ciphertext, c.id) for c in session.execute(select(Card)).scalars()
    ]
    assert pans
    assert all(luhn_valid(pan) for pan in pans)
    secrets = [
        PASSWORD,
        "a wrong guess!",
        user.access_token,
        user.refresh_token,
        refreshed.json()["refresh_token"],
        admin.access_token,
        *(
            settings.secret(name)
            for name in ("jwt_secret", "network_api_key", "card_data_key", "stripe_webhook_secret")
        ),
        *pans,
    ]
    logs = "".join(p.read_text() for p in sorted((settings.log_dir / "api").glob("*.jsonl")))
    assert logs.count("\n") > 20
    for text in [*bodies, *logs.splitlines()]:
        for secret in secrets:
            assert secret not in text
        # No Luhn-valid 16-digit number at all (ids and amounts are never one).
        assert [n for n in _SIXTEEN_DIGITS.findall(text) if luhn_valid(n)] == []


def _id_paths(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) with an id that a customer may call."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        if "{" not in path or path.startswith(("/v1/admin", "/v1/network", "/v1/sandbox", "/v1/reports")):
            continue
        for method, operation in operations.items():
            if "403" in operation.get("responses", {}):
                continue  # an admin's operation (checked below)
            found.append((method.upper(), path))
    return found


_BODIES: dict[tuple[str, str], Any] = {
    ("PUT", "/v1/cards/{id}/controls"): {},
    ("PUT", "/v1/accounts/{id}/autopay"): {"enabled": False},
    ("POST", "/v1/accounts/{id}/payments"): {"amount": 100, "payment_method": "pm_card_visa"},
    ("POST", "/v1/accounts/{id}/credit-limit-requests"): {"requested_credit_limit": 9_000_00},
}


def test_another_customers_ids_are_404_on_every_path(api: TestClient, session: Session, app: FastAPI) -> None:
    owner, account_id, card_id, _ = _world(api, session)
    application_id = api.get("/v1/applications", headers=owner.headers).json()["data"][0]["id"]
    statements = api.get(f"/v1/accounts/{account_id}/statements", headers=owner.headers).json()["data"]
    ids = {
        "accounts": account_id,
        "cards": card_id,
        "applications": application_id,
        "statements": statements[0]["id"],
    }
    intruder, _, _ = approved_customer(api)

    paths = _id_paths(app)
    assert len(paths) >= 12, paths
    for method, template in paths:
        kind = template.split("/")[2]
        path = template.replace("{id}", ids[kind])
        body = _BODIES.get((method, template))
        headers = {**intruder.headers, "Idempotency-Key": f"intrude-{method}-{path}"}
        mine = api.request(method, path, headers=headers, json=body)
        problem(mine, 404)
        if method == "GET":  # and the owner does see it
            assert api.get(path, headers=owner.headers).status_code == 200, path


def test_every_admin_and_finance_endpoint_refuses_a_customer(api: TestClient, app: FastAPI) -> None:
    user = register(api)
    token = api.post(
        "/v1/auth/token", data={"grant_type": "password", "username": user["email"], "password": PASSWORD}
    ).json()["access_token"]
    guarded = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method, operation in operations.items()
        if path.startswith(("/v1/admin", "/v1/sandbox", "/v1/reports"))
        # The auth endpoints' 403 is the cookie mode's csrf_failed, not a role.
        or ("403" in operation.get("responses", {}) and not path.startswith("/v1/auth/"))
    ]
    assert ("POST", "/v1/applications/{id}/decision") in guarded
    assert ("GET", "/v1/admin/audit-events") in guarded
    for method, template in guarded:
        path = template.replace("{id}", "usr_00000000000000000000000000")
        response = api.request(
            method,
            path,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{method}-{path}"},
            json={"role": "admin", "decision": "approved", "days": 1},
        )
        problem(response, 403, "insufficient_role")


def test_the_lockout_holds_under_parallel_guessing(
    live_server: str, api: TestClient, settings: Settings
) -> None:
    user = register(api)
    answers: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        with httpx.Client(base_url=live_server, timeout=30) as client:
            form = {"grant_type": "password", "username": user["email"], "password": f"guess number {n}"}
            status = client.post("/v1/auth/token", data=form).status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Exactly the allowed number of guesses were checked; every other one met the lock.
    assert answers.count(400) == settings.login_max_failures
    assert answers.count(429) == len(threads) - settings.login_max_failures
    right = httpx.post(
        f"{live_server}/v1/auth/token",
        data={"grant_type": "password", "username": user["email"], "password": PASSWORD},
    )
    assert right.status_code == 429


def test_a_webhook_replayed_outside_the_tolerance_is_refused(
    api: TestClient, settings: Settings, session
) -> None:
    secret = settings.secret("stripe_webhook_secret")
    body = event_body("payment_intent.created", {"id": "pi_replay"})
    captured_at = int(time.time()) - 301  # signed and sent 5 minutes ago: a recorded, replayed request
    response = api.post(
        "/v1/webhooks/stripe",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, secret, captured_at)},
    )
    problem(response, 400, "invalid_webhook")
    from sqlalchemy import text

    assert session.execute(text("select count(*) from stripe_events")).scalar_one() == 0


def test_production_refuses_to_start_with_default_secrets(tmp_path: Path) -> None:
    script = "from api.main import create_app; create_app(database_url='postgresql://x@/y?host=/none')"
    env = {
        "CARDPORTAL_ENV": "production",
        "CARDPORTAL_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "JWT_SECRET": "x" * 40,
        "NETWORK_API_KEY": "sandbox-network-key-4242",
        "CARD_DATA_KEY": "y" * 44,
        "STRIPE_API_KEY": "sk_live_real",
        "STRIPE_WEBHOOK_SECRET": "whsec_real",
        "CREDIT_BUREAU": "http",
        "BUREAU_URL": "https://bureau.example.com",
        "BUREAU_API_KEY": "bureau-key-long-enough-0123456789",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "NETWORK_API_KEY holds a sandbox default" in done.stderr


_JUNK_IDS = ("acct\x00evil", "a" * 65, "stmt_1'; drop table statements; --", "../../etc/passwd", "caf\u00e9")


def test_a_junk_id_is_a_422_problem_on_every_path(api: TestClient, session: Session, app: FastAPI) -> None:
    """Issue 21, finding 5: a NUL byte (which PostgreSQL refuses in text) or any other junk in a
    path id was a 500 or 503 on the statement, payment, autopay and report paths. Every path id
    is validated before any query: 422 problem+json, for the caller allowed there (an admin,
    the network), so that the check is not the role's refusal."""
    admin = user_with_role(api, session, "admin")
    paths = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if "{" in path
        for method in operations
    ]
    assert len(paths) >= 20, paths
    for method, template in paths:
        for junk in _JUNK_IDS:
            path = template.replace("{id}", quote(junk, safe=""))
            headers = {**admin.headers, **NETWORK_HEADERS, "Idempotency-Key": f"junk-{method}-{path}"[:255]}
            body = _BODIES.get((method, template), {})
            answer = api.request(method, path, headers=headers, json=body)
            assert answer.status_code in (404, 422), (method, template, repr(junk), answer.status_code)
            assert answer.headers["content-type"].startswith("application/problem+json"), (method, path)


def test_a_database_error_never_logs_the_values_it_was_given(
    app: FastAPI, api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 5's second half: an unexpected database error (here a cast that fails on a value
    that is personal data) is a 500 problem, and neither the log nor the answer holds the value:
    the engine hides bound parameters, and the gateway logs the error without PostgreSQL's
    message, which quotes the value."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    secret = "ada.lovelace+private@example.com"

    def crash() -> None:
        with app.state.engine.connect() as conn:
            conn.execute(text("select cast(:email as integer)"), {"email": secret})

    app.add_api_route("/v1/_test/database-error", crash, methods=["GET"])
    try:
        with caplog.at_level("ERROR", logger="cardportal"):
            answer = api.get("/v1/_test/database-error")
        assert answer.status_code == 500
        assert secret not in answer.text
        assert "database error" in caplog.text
        assert "InvalidTextRepresentation" in caplog.text
        assert secret not in caplog.text
    finally:
        app.router.routes[:] = [
            r for r in app.router.routes if getattr(r, "path", "") != "/v1/_test/database-error"
        ]
    # The engines themselves never echo the values either.
    for engine in (app.state.engine, app.state.warehouse_engine):
        with engine.connect() as conn, pytest.raises(DBAPIError) as raised:
            conn.execute(text("select cast(:email as integer) + 1"), {"email": secret})
        assert "[SQL parameters hidden due to hide_parameters=True]" in str(raised.value)
