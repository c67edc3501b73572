"""The statement API and the sandbox clock over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.billing.models import BillingRun, Statement
from api.clock import PlatformClock
from tests.api.auth.test_mfa import enrolled, next_code
from tests.conftest import NETWORK_KEY, production_settings
from tests.factories import PASSWORD, customer, login, open_card_account, unique_email, user_with_role

NET = {"X-Network-Key": NETWORK_KEY}
MERCHANT = {"name": "Book Shop", "mcc": "5942", "country": "US"}


def _card_holder(api: TestClient, session: Session, app: FastAPI, **kwargs):  # type: ignore[no-untyped-def]
    email = unique_email("holder")
    _, account_id, card_id = open_card_account(session, app, email=email, **kwargs)
    return login(api, email), account_id, card_id


def _buy(api: TestClient, card_id: str, amount: int) -> None:
    r = api.post(
        "/v1/network/authorizations",
        headers=NET,
        json={"card_id": card_id, "amount": amount, "currency": "USD", "merchant": MERCHANT},
    )
    assert r.status_code == 200, r.text
    assert r.json()["approved"], r.text
    r = api.post(f"/v1/network/authorizations/{r.json()['id']}/clear", headers=NET, json={"amount": amount})
    assert r.status_code == 200, r.text


def test_advance_35_days_then_30_more_without_payment(
    api: TestClient, session: Session, app: FastAPI
) -> None:
    holder, account_id, card_id = _card_holder(api, session, app, credit_limit=3_000_00, apr_bps=1_999)
    admin = user_with_role(api, session, "admin")
    opened = app.state.clock.now()
    _buy(api, card_id, 1_234_56)

    r = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 35})
    assert r.status_code == 200, r.text
    body = r.json()
    assert datetime.fromisoformat(body["now"]) - opened >= timedelta(days=35)
    assert [run["day"] for run in body["runs"]] == [
        (opened.date() + timedelta(days=i)).isoformat() for i in range(len(body["runs"]))
    ]
    assert len(body["runs"]) in (35, 36)  # the opening day through yesterday
    assert sum(run["counts"]["statements"] for run in body["runs"]) == 1
    # Tokens live on the platform clock: 35 days later, sign in again.
    holder, admin = login(api, holder.email), login(api, admin.email)

    r = api.get(f"/v1/accounts/{account_id}/statements", headers=holder.headers)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["next_cursor"] is None
    assert len(page["data"]) == 1
    statement = page["data"][0]
    # The first cycle: the purchase alone; grace period, so no interest; 1 % of 1,234.56 = 12.35 < 25.
    assert {
        k: statement[k] for k in ("opening_balance", "purchases", "refunds", "payments", "interest", "fees")
    } == {
        "opening_balance": 0,
        "purchases": 1_234_56,
        "refunds": 0,
        "payments": 0,
        "interest": 0,
        "fees": 0,
    }
    assert statement["closing_balance"] == 1_234_56
    assert statement["minimum_payment"] == 25_00
    period_end, due = date.fromisoformat(statement["period_end"]), date.fromisoformat(statement["due_date"])
    assert statement["period_start"] == opened.date().isoformat()
    assert 21 <= (due - period_end).days <= 26
    detail = api.get(f"/v1/statements/{statement['id']}", headers=holder.headers).json()
    assert [t["type"] for t in detail["transactions"]] == ["purchase"]
    account = api.get(f"/v1/accounts/{account_id}", headers=holder.headers).json()
    assert (account["statement_balance"], account["minimum_payment_due"], account["next_due_date"]) == (
        1_234_56,
        25_00,
        statement["due_date"],
    )
    assert account["delinquency_bucket"] == "current"

    r = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 30})
    assert r.status_code == 200, r.text
    holder, admin = login(api, holder.email), login(api, admin.email)
    fees = api.get(f"/v1/accounts/{account_id}/transactions?type=fee", headers=holder.headers).json()["data"]
    # The first late fee is $30, but never more than the $25 minimum that was missed.
    assert [(f["amount"], f["status"]) for f in fees] == [(25_00, "posted")]
    account = api.get(f"/v1/accounts/{account_id}", headers=holder.headers).json()
    today = datetime.fromisoformat(r.json()["now"]).date()
    expected_dpd = (today - timedelta(days=1) - due).days
    assert account["days_past_due"] == expected_dpd >= 1
    assert account["delinquency_bucket"] in ("1-29", "30-59")
    assert account["past_due_amount"] == 25_00
    assert account["current_balance"] == 1_234_56 + 25_00 + sum(
        s["interest"]
        for s in api.get(f"/v1/accounts/{account_id}/statements", headers=holder.headers).json()["data"]
    )
    tb = api.get("/v1/admin/ledger/trial-balance", headers=admin.headers).json()
    assert tb["balanced"] is True


def test_statements_of_another_customer_are_404(api: TestClient, session: Session, app: FastAPI) -> None:
    holder, account_id, card_id = _card_holder(api, session, app, credit_limit=1_000_00)
    stranger = customer(api)
    admin = user_with_role(api, session, "admin")
    _buy(api, card_id, 50_00)
    assert api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 32}).status_code == 200
    holder, stranger = login(api, holder.email), login(api, stranger.email)
    statement_id = api.get(f"/v1/accounts/{account_id}/statements", headers=holder.headers).json()["data"][0][
        "id"
    ]
    for path in (
        f"/v1/accounts/{account_id}/statements",
        f"/v1/statements/{statement_id}",
        f"/v1/statements/{statement_id}/pdf",
    ):
        r = api.get(path, headers=stranger.headers)
        assert r.status_code == 404, path
        assert r.json()["code"] in ("account_not_found", "statement_not_found")
    assert api.get("/v1/statements/stmt_nope", headers=holder.headers).json()["code"] == "statement_not_found"
    assert api.get(f"/v1/statements/{statement_id}", headers=holder.headers).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"days": 0}, 422, "clock_advance_too_small"),
        ({"days": -3}, 422, "clock_advance_too_small"),
        ({"days": 401}, 422, "clock_advance_too_large"),
        ({"days": 10**12}, 422, "clock_advance_too_large"),
        ({}, 422, "clock_advance_invalid"),
        ({"days": 1, "to": "2099-01-01T00:00:00Z"}, 422, "clock_advance_invalid"),
        ({"to": "2001-01-01T00:00:00Z"}, 422, "clock_backwards"),
        ({"to": "2001-01-01T00:00:00"}, 422, "invalid_time"),
        ({"days": "ten"}, 422, "validation_error"),
        ({"days": 1.5}, 422, "validation_error"),
        ({"weeks": 1}, 422, "validation_error"),
    ],
)
def test_bad_clock_moves_change_nothing(
    api: TestClient, session: Session, app: FastAPI, body: dict[str, object], status: int, code: str
) -> None:
    admin = user_with_role(api, session, "admin")
    before = app.state.clock.now()
    r = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json=body)
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert app.state.clock.now() - before < timedelta(minutes=1)
    assert session.execute(select(func.count()).select_from(BillingRun)).scalar_one() == 0
    assert session.execute(select(func.count()).select_from(PlatformClock)).scalar_one() == 0


def test_the_far_edge_and_customers(api: TestClient, session: Session, app: FastAPI) -> None:
    admin = user_with_role(api, session, "admin")
    r = api.post("/v1/sandbox/clock/advance", headers=customer(api).headers, json={"days": 1})
    assert (r.status_code, r.json()["code"]) == (403, "insufficient_role")
    before = app.state.clock.now()
    to = (before + timedelta(days=2)).replace(microsecond=0)
    r = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"to": to.isoformat()})
    assert r.status_code == 200, r.text
    assert timedelta(0) <= datetime.fromisoformat(r.json()["now"]) - to < timedelta(minutes=1)
    # Never back: the clock is shared through the database, and a fresh process sees it.
    from api.clock import Clock

    other_process = Clock(movable=True, engine=app.state.engine)
    assert other_process.now() - to < timedelta(minutes=1)
    admin = login(api, admin.email)
    r = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"to": before.isoformat()})
    assert r.json()["code"] == "clock_backwards"
    assert api.get("/v1/sandbox/clock", headers=admin.headers).json()["now"] >= to.isoformat()[:19]
    assert session.execute(select(func.count()).select_from(Statement)).scalar_one() == 0


def test_production_refuses_to_move_the_clock(session: Session, database_url: str, tmp_path: Path) -> None:
    from api.main import create_app

    settings = production_settings(
        tmp_path,
        database_url,
    )
    production = create_app(settings, database_url=database_url)
    with TestClient(production) as client:
        # A production admin signs in with a second factor (issue 21, finding 7).
        admin = user_with_role(client, session, "admin")
        secret = enrolled(client, admin)
        form = {"grant_type": "password", "username": admin.email, "password": PASSWORD}
        form["otp"] = next_code(secret)
        signed_in = client.post("/v1/auth/token", data=form)
        assert signed_in.status_code == 200, signed_in.text
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        r = client.post("/v1/sandbox/clock/advance", headers=headers, json={"days": 1})
        assert (r.status_code, r.json()["code"]) == (403, "clock_not_movable")
        assert client.get("/v1/sandbox/clock", headers=headers).json()["movable"] is False
    assert session.execute(select(func.count()).select_from(PlatformClock)).scalar_one() == 0
    assert datetime.now(UTC) - production.state.clock.now() < timedelta(seconds=5)
