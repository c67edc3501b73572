"""Accounts through HTTP: the fields of API.md, ownership, and the transaction history
(cursor pages newest first and stable under inserts, filters, limits, bad cursors)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.network.models import Transaction
from api.network.schemas import TransactionOut
from api.pagination import Page
from tests.factories import GROCER, NETWORK_HEADERS, LoggedIn, approved_customer, customer

ACCOUNT_FIELDS = {
    "id",
    "status",
    "credit_limit",
    "current_balance",
    "pending_amount",
    "available_credit",
    "apr_bps",
    "currency",
    "billing_cycle_day",
    "opened_at",
}


def authorize(api: TestClient, card_id: str, amount: int, **extra: object) -> Any:
    r = api.post(
        "/v1/network/authorizations",
        headers=NETWORK_HEADERS,
        json={"card_id": card_id, "amount": amount, "currency": "USD", "merchant": GROCER} | extra,
    )
    assert r.status_code == 200, r.text
    return r.json()


def history(api: TestClient, user: LoggedIn, account_id: str, **params: object) -> Any:
    return api.get(f"/v1/accounts/{account_id}/transactions", headers=user.headers, params=params)


def test_account_fields_and_available_credit(api: TestClient) -> None:
    user, account_id, card_id = approved_customer(api, requested_credit_limit=2_000_00)
    listed = api.get("/v1/accounts", headers=user.headers).json()
    assert listed["next_cursor"] is None
    assert [a["id"] for a in listed["data"]] == [account_id]
    fresh = listed["data"][0]
    assert set(fresh) >= ACCOUNT_FIELDS
    assert fresh["status"] == "active"
    assert fresh["currency"] == "USD"
    assert 1 <= fresh["billing_cycle_day"] <= 28
    assert fresh["opened_at"].endswith(("Z", "+00:00"))
    assert (fresh["credit_limit"], fresh["current_balance"], fresh["pending_amount"]) == (2_000_00, 0, 0)
    assert fresh["available_credit"] == 2_000_00

    cleared = authorize(api, card_id, 300_00)
    api.post(
        f"/v1/network/authorizations/{cleared['id']}/clear", headers=NETWORK_HEADERS, json={"amount": 250_00}
    )
    authorize(api, card_id, 120_00)
    account = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    assert set(account) >= ACCOUNT_FIELDS
    assert account["current_balance"] == 250_00
    assert account["pending_amount"] == 120_00
    assert account["available_credit"] == 2_000_00 - 250_00 - 120_00
    assert account["available_credit"] == (
        account["credit_limit"] - account["current_balance"] - account["pending_amount"]
    )


def test_another_customers_account_is_a_404(api: TestClient) -> None:
    _, account_id, _ = approved_customer(api)
    stranger = customer(api)
    for path in ("", "/transactions", "/cards"):
        r = api.get(f"/v1/accounts/{account_id}{path}", headers=stranger.headers)
        assert r.status_code == 404, path
        assert r.json()["code"] == "account_not_found"
    assert api.get("/v1/accounts", headers=stranger.headers).json()["data"] == []
    assert api.get("/v1/accounts/acct_nope", headers=stranger.headers).status_code == 404
    assert api.get(f"/v1/accounts/{account_id}").status_code == 401


def test_history_pages_newest_first_and_stable_under_inserts(api: TestClient) -> None:
    user, account_id, card_id = approved_customer(api)
    first_ids = [authorize(api, card_id, 1_00 + i)["id"] for i in range(5)]

    seen: list[str] = []
    page = history(api, user, account_id, limit=2).json()
    seen += [t["id"] for t in page["data"]]
    later_ids = []
    while page["next_cursor"]:
        # New transactions between pages neither repeat nor push anything out of later pages.
        later_ids.append(authorize(api, card_id, 7_00)["id"])
        page = history(api, user, account_id, limit=2, cursor=page["next_cursor"]).json()
        seen += [t["id"] for t in page["data"]]
    assert seen == list(reversed(first_ids))

    everything = history(api, user, account_id, limit=200).json()
    assert [t["id"] for t in everything["data"]] == list(reversed(first_ids + later_ids))
    assert everything["next_cursor"] is None
    times = [t["created_at"] for t in everything["data"]]
    assert times == sorted(times, reverse=True)
    one = everything["data"][0]
    assert one["type"] == "purchase"
    assert one["status"] == "pending"
    assert one["merchant"]["name"] == GROCER["name"]
    assert one["merchant"]["mcc"] == GROCER["mcc"]
    assert one["posted_at"] is None


def test_history_filters_by_status_type_and_time(api: TestClient) -> None:
    user, account_id, card_id = approved_customer(api, requested_credit_limit=1_000_00)
    pending = authorize(api, card_id, 10_00)
    posted = authorize(api, card_id, 20_00)
    api.post(
        f"/v1/network/authorizations/{posted['id']}/clear", headers=NETWORK_HEADERS, json={"amount": 20_00}
    )
    declined = authorize(api, card_id, 5_000_00)
    assert declined["decline_code"] == "insufficient_credit"
    refund = api.post(
        "/v1/network/refunds",
        headers=NETWORK_HEADERS,
        json={"card_id": card_id, "amount": 3_00, "merchant": GROCER},
    ).json()

    def ids(**params: object) -> list[str]:
        r = history(api, user, account_id, **params)
        assert r.status_code == 200, r.text
        return [t["id"] for t in r.json()["data"]]

    assert ids(status="pending") == [pending["id"]]
    assert ids(status="posted") == [refund["id"], posted["id"]]
    assert ids(status="declined") == [declined["id"]]
    assert ids(status="reversed") == []
    assert ids(type="refund") == [refund["id"]]
    assert ids(type="purchase") == [declined["id"], posted["id"], pending["id"]]
    assert ids(type="purchase", status="posted") == [posted["id"]]

    created = {t["id"]: t["created_at"] for t in history(api, user, account_id).json()["data"]}
    # [from, to): from is inclusive, to exclusive.
    assert ids(**{"from": created[posted["id"]]}) == [refund["id"], declined["id"], posted["id"]]
    assert ids(to=created[posted["id"]]) == [pending["id"]]
    assert ids(**{"from": created[posted["id"]], "to": created[refund["id"]]}) == [
        declined["id"],
        posted["id"],
    ]
    assert ids(**{"from": "2100-01-01T00:00:00Z"}) == []

    for bad in ({"status": "done"}, {"type": "gift"}, {"from": "yesterday"}):
        assert history(api, user, account_id, **bad).status_code == 422, bad
    naive = history(api, user, account_id, **{"from": "2024-01-01T00:00:00"})
    assert naive.status_code == 400
    assert naive.json()["code"] == "invalid_time"


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("limit", [0, -1, 201, "ten"])
def test_history_limit_bounds(api: TestClient, limit: object) -> None:
    user, account_id, _ = approved_customer(api)
    r = history(api, user, account_id, limit=limit)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "cursor",
    [
        "bogus",
        "!!!!",
        _cursor(["not a time", "auth_1"]),
        _cursor(["2024-01-01T00:00:00", "auth_1"]),
        _cursor(["2024-01-01T00:00:00+00:00", 5]),
        _cursor(["2024-01-01T00:00:00+00:00", "auth\u00001"]),
        _cursor({"a": 1}),
        _cursor(7),
    ],
)
def test_history_bogus_cursor_is_a_400(api: TestClient, cursor: str) -> None:
    user, account_id, card_id = approved_customer(api)
    authorize(api, card_id, 1_00)
    r = history(api, user, account_id, cursor=cursor)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_cursor"


def test_history_limit_edges_are_accepted(api: TestClient) -> None:
    user, account_id, card_id = approved_customer(api)
    authorize(api, card_id, 1_00)
    authorize(api, card_id, 2_00)
    one = history(api, user, account_id, limit=1).json()
    assert len(one["data"]) == 1
    assert one["next_cursor"]
    assert len(history(api, user, account_id, limit=200).json()["data"]) == 2


def test_history_pages_are_the_bytes_of_transaction_out(api: TestClient, session: Session) -> None:
    """The history route serialises rows directly; the bytes equal Page[TransactionOut]'s."""
    user, account_id, card_id = approved_customer(api, requested_credit_limit=2_000_00)
    cleared = authorize(api, card_id, 120_00)
    api.post(
        f"/v1/network/authorizations/{cleared['id']}/clear", headers=NETWORK_HEADERS, json={"amount": 100_00}
    )
    reversed_ = authorize(api, card_id, 30_00)
    api.post(f"/v1/network/authorizations/{reversed_['id']}/reverse", headers=NETWORK_HEADERS)
    authorize(api, card_id, 9_000_00)  # declined: insufficient credit
    refund = api.post(
        "/v1/network/refunds",
        headers=NETWORK_HEADERS,
        json={
            "card_id": card_id,
            "amount": 20_00,
            "currency": "USD",
            "merchant": GROCER,
            "authorization_id": cleared["id"],
        },
    )
    assert refund.status_code == 200, refund.text
    for params in ({"limit": 2}, {"limit": 50}):
        response = history(api, user, account_id, **params)
        assert response.status_code == 200
        page = response.json()
        assert page["data"]
        rows = session.scalars(
            select(Transaction).where(Transaction.id.in_([t["id"] for t in page["data"]]))
        ).all()
        by_id = {t.id: t for t in rows}
        expected = Page[TransactionOut](
            data=[TransactionOut.of(by_id[t["id"]]) for t in page["data"]], next_cursor=page["next_cursor"]
        )
        assert response.content == expected.model_dump_json().encode()
    statuses = {t["status"] for t in history(api, user, account_id).json()["data"]}
    assert statuses == {"posted", "reversed", "declined"}
