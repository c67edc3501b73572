"""A charged-off account's history shows the charge-off, typed, in order, on every page size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.billing.models import AccountBilling
from api.jobs import daily as daily_job
from tests.api.billing.helpers import at, move_clock_to, purchase
from tests.factories import LoggedIn, login, open_card_account, register, unique_email

SIGN = {"purchase": 1, "interest": 1, "fee": 1, "reversal": 1, "refund": -1, "payment": -1, "charge_off": -1}


@pytest.fixture
def charged_off(
    api: TestClient, app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> tuple[LoggedIn, str, AccountBilling]:
    move_clock_to(app, at(2032, 2, 1))
    email = unique_email("chargeoff")
    _, account_id, card_id = open_card_account(
        session, app, credit_limit=1_000_00, apr_bps=2_499, email=email
    )
    clock = app.state.clock
    for amount in (150_00, 120_00, 130_00):
        purchase(session, card_id, amount, clock.now())
        daily_job.advance_clock(session_factory, clock, days=1)
    daily_job.advance_clock(session_factory, clock, days=200)
    daily_job.advance_clock(session_factory, clock, days=60)
    session.expire_all()
    state = session.get_one(AccountBilling, account_id)
    assert state.charged_off_on is not None
    assert state.charge_off_transfer_id is not None
    return login(api, email), account_id, state


def _history(api: TestClient, user: LoggedIn, account_id: str, **params: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = api.get(
            f"/v1/accounts/{account_id}/transactions",
            headers=user.headers,
            params={**params, **({"cursor": cursor} if cursor else {})},
        )
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= params.get("limit", 50)
        entries += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return entries


def test_the_charge_off_is_in_the_history(
    api: TestClient, charged_off: tuple[LoggedIn, str, AccountBilling]
) -> None:
    user, account_id, state = charged_off
    everything = _history(api, user, account_id, limit=200)
    [entry] = [e for e in everything if e["type"] == "charge_off"]
    assert entry["id"] == state.charge_off_transfer_id
    assert entry["amount"] == state.charged_off_amount
    assert entry["status"] == "posted"
    assert entry["merchant"] is None
    assert entry["posted_at"] == entry["created_at"]
    # The history now explains the zero balance: what was owed, less what was written off.
    assert sum(SIGN[e["type"]] * e["amount"] for e in everything if e["status"] == "posted") == 0
    # Newest first, the charge-off among the last day's postings.
    keys = [(e["created_at"], e["id"]) for e in everything]
    assert keys == sorted(keys, reverse=True)
    assert entry["created_at"] >= max(e["created_at"] for e in everything if e["type"] != "charge_off")

    # Pages of any size neither skip nor repeat it (or anything else).
    ids = [e["id"] for e in everything]
    assert len(ids) > 7
    for limit in (1, 2, 3, 7):
        assert [e["id"] for e in _history(api, user, account_id, limit=limit)] == ids

    # Filters apply to it as to any entry; another customer gets a 404.
    [only] = _history(api, user, account_id, type="charge_off")
    assert only == entry
    assert all(e["type"] == "purchase" for e in _history(api, user, account_id, type="purchase"))
    assert _history(api, user, account_id, type="charge_off", status="pending") == []
    assert state.charged_off_on is not None
    day = at(state.charged_off_on.year, state.charged_off_on.month, state.charged_off_on.day, 0)
    assert _history(api, user, account_id, type="charge_off", to=day.isoformat()) == []
    assert _history(api, user, account_id, **{"from": day.isoformat()})[0] == entry
    after = (day + timedelta(days=1)).isoformat()
    assert _history(api, user, account_id, type="charge_off", **{"from": after}) == []
    stranger = login(api, register(api)["email"])
    r = api.get(f"/v1/accounts/{account_id}/transactions", headers=stranger.headers)
    assert r.status_code == 404
