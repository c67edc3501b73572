"""The card network through HTTP: the key, bad input, declines, clear, reverse, refund,
idempotent retries, hold expiry with a moved clock, and authorize+clear throughput."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.ledger import service as ledger
from api.network import service as network
from api.network.models import Transaction
from cardportal.settings import Settings
from tests.conftest import NETWORK_KEY
from tests.factories import GROCER, LoggedIn, approved_customer, open_card_account, user_with_role

NET = {"X-Network-Key": NETWORK_KEY}
CAFE = {"name": "Corner Cafe", "mcc": "5812", "country": "US"}


def authorize(api: TestClient, card_id: str, amount: int, merchant: dict[str, str] = GROCER) -> Any:
    r = api.post(
        "/v1/network/authorizations",
        headers=NET,
        json={"card_id": card_id, "amount": amount, "currency": "USD", "merchant": merchant},
    )
    assert r.status_code == 200, r.text
    return r.json()


def clear(api: TestClient, auth_id: str, amount: int) -> Any:
    return api.post(f"/v1/network/authorizations/{auth_id}/clear", headers=NET, json={"amount": amount})


def reverse(api: TestClient, auth_id: str) -> Any:
    return api.post(f"/v1/network/authorizations/{auth_id}/reverse", headers=NET)


def refund(api: TestClient, card_id: str, amount: object, auth_id: str | None = None) -> Any:
    body: dict[str, object] = {"card_id": card_id, "amount": amount, "merchant": GROCER}
    if auth_id is not None:
        body["authorization_id"] = auth_id
    return api.post("/v1/network/refunds", headers=NET, json=body)


def balances(api: TestClient, user: LoggedIn, account_id: str) -> tuple[int, int, int]:
    a = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    return a["current_balance"], a["pending_amount"], a["available_credit"]


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def transaction_count(session: Session) -> int:
    session.expire_all()
    return int(session.execute(select(func.count()).select_from(Transaction)).scalar_one())


def assert_ledger_balanced(session: Session) -> None:
    session.expire_all()
    assert ledger.trial_balance(session).balanced
    assert ledger.unbalanced_transfers(session) == []


@pytest.fixture
def holder(api: TestClient) -> tuple[LoggedIn, str, str]:
    """A customer approved for $1,000 (user, account id, card id)."""
    return approved_customer(api, requested_credit_limit=1_000_00)


# --- the key and bad input ----------------------------------------------------


def test_the_network_key_is_required(api: TestClient, session: Session, holder: Any) -> None:
    user, _, card_id = holder
    auth = authorize(api, card_id, 10_00)
    calls = [
        ("/v1/network/authorizations", {"card_id": card_id, "amount": 1_00, "merchant": GROCER}),
        (f"/v1/network/authorizations/{auth['id']}/clear", {"amount": 1_00}),
        (f"/v1/network/authorizations/{auth['id']}/reverse", None),
        ("/v1/network/refunds", {"card_id": card_id, "amount": 1_00, "merchant": GROCER}),
    ]
    before = transaction_count(session)
    for headers in ({}, {"X-Network-Key": "wrong"}, {"X-Network-Key": ""}, user.headers):
        for path, body in calls:
            r = api.post(path, headers=headers, json=body)
            problem(r, 401, "invalid_network_key")
    assert transaction_count(session) == before
    assert clear(api, auth["id"], 10_00).status_code == 200


# 100.0 is not here: JSON Schema calls a number with no fraction an integer, and so do we.
BAD_AMOUNTS: list[object] = [-1, 0, 1.5, 100.01, "100", 2**53, 2**63, 10**40, True, None]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
def test_bad_amounts_are_422_and_change_nothing(
    api: TestClient, session: Session, holder: Any, amount: object
) -> None:
    user, account_id, card_id = holder
    auth = authorize(api, card_id, 10_00)
    before = (transaction_count(session), balances(api, user, account_id))
    r = api.post(
        "/v1/network/authorizations",
        headers=NET,
        json={"card_id": card_id, "amount": amount, "currency": "USD", "merchant": GROCER},
    )
    problem(r, 422, "validation_error")
    problem(clear(api, auth["id"], amount), 422, "validation_error")  # type: ignore[arg-type]
    problem(refund(api, card_id, amount), 422, "validation_error")
    assert (transaction_count(session), balances(api, user, account_id)) == before


def test_currency_unknown_is_422_and_unissued_is_a_decline(
    api: TestClient, session: Session, holder: Any
) -> None:
    user, account_id, card_id = holder
    for currency in ("XYZ", "usd", "US", 840, None):
        r = api.post(
            "/v1/network/authorizations",
            headers=NET,
            json={"card_id": card_id, "amount": 10_00, "currency": currency, "merchant": GROCER},
        )
        problem(r, 422, "validation_error")
    assert transaction_count(session) == 0
    r = api.post(
        "/v1/network/authorizations",
        headers=NET,
        json={"card_id": card_id, "amount": 10_00, "currency": "EUR", "merchant": GROCER},
    )
    assert r.status_code == 200
    assert r.json()["approved"] is False
    assert r.json()["decline_code"] == "currency_not_supported"
    assert r.json()["available_credit"] == 1_000_00
    assert balances(api, user, account_id) == (0, 0, 1_000_00)


def test_unknown_card_is_a_404(api: TestClient, session: Session) -> None:
    r = api.post(
        "/v1/network/authorizations",
        headers=NET,
        json={"card_id": "card_nope", "amount": 10_00, "currency": "USD", "merchant": GROCER},
    )
    problem(r, 404, "card_not_found")
    problem(refund(api, "card_nope", 1_00), 404, "card_not_found")
    problem(clear(api, "auth_nope", 1_00), 404, "authorization_not_found")
    problem(reverse(api, "auth_nope"), 404, "authorization_not_found")
    assert transaction_count(session) == 0


@pytest.mark.parametrize(
    "merchant",
    [
        {"mcc": "5411", "country": "US"},
        {"name": "", "mcc": "5411"},
        {"name": "Shop\u0000", "mcc": "5411"},
        {"name": "x" * 201, "mcc": "5411"},
        {"name": "Shop", "mcc": "54a1"},
        {"name": "Shop", "mcc": "541"},
        {"name": "Shop", "mcc": 5411},
        {"name": "Shop"},
        {"name": "Shop", "mcc": "5411", "country": "USA"},
        {"name": "Shop", "mcc": "5411", "country": "us"},
        {"name": "Shop", "mcc": "5411", "country": "XX"},
        {"name": "Shop", "mcc": "5411", "country": "US", "city": "Springfield"},
        "Shop",
        None,
    ],
    ids=lambda m: repr(m)[:40],
)
def test_malformed_merchants_are_422(
    api: TestClient, session: Session, holder: Any, merchant: object
) -> None:
    _, _, card_id = holder
    for path in ("/v1/network/authorizations", "/v1/network/refunds"):
        r = api.post(path, headers=NET, json={"card_id": card_id, "amount": 10_00, "merchant": merchant})
        problem(r, 422, "validation_error")
    assert transaction_count(session) == 0


def test_malformed_ids_and_bodies_are_4xx(api: TestClient, session: Session, holder: Any) -> None:
    _, _, card_id = holder
    auth = authorize(api, card_id, 10_00)
    for body in (
        {"card_id": "card\u0000x", "amount": 1_00, "merchant": GROCER},
        {"card_id": "", "amount": 1_00, "merchant": GROCER},
        {"card_id": card_id, "amount": 1_00, "merchant": GROCER, "tip": 5},
        {"amount": 1_00, "merchant": GROCER},
    ):
        problem(api.post("/v1/network/authorizations", headers=NET, json=body), 422, "validation_error")
    problem(refund(api, card_id, 1_00, auth_id="auth\u0000"), 422, "validation_error")
    problem(clear(api, "auth%00x", 1_00), 422, "validation_error")
    problem(reverse(api, "auth%00x"), 422, "validation_error")
    problem(clear(api, "a" * 65, 1_00), 422, "validation_error")
    r = api.post(
        f"/v1/network/authorizations/{auth['id']}/clear",
        headers=NET | {"content-type": "application/json"},
        content=b'{"amount": ',
    )
    problem(r, 400, "malformed_json")
    problem(
        api.post(f"/v1/network/authorizations/{auth['id']}/clear", headers=NET, json={"amount": 1, "x": 1}),
        422,
        "validation_error",
    )
    assert transaction_count(session) == 1


# --- declines, clear, reverse ---------------------------------------------------


def test_a_decline_is_recorded_and_moves_no_money(api: TestClient, session: Session, holder: Any) -> None:
    user, account_id, card_id = holder
    held = authorize(api, card_id, 900_00)
    declined = authorize(api, card_id, 100_01)
    assert declined["approved"] is False
    assert declined["decline_code"] == "insufficient_credit"
    assert declined["available_credit"] == 100_00
    assert declined["status"] == "declined"
    assert balances(api, user, account_id) == (0, 900_00, 100_00)
    history = api.get(f"/v1/accounts/{account_id}/transactions", headers=user.headers).json()["data"]
    assert [(t["id"], t["status"], t["decline_code"]) for t in history] == [
        (declined["id"], "declined", "insufficient_credit"),
        (held["id"], "pending", None),
    ]
    # A declined authorization can be neither cleared, reversed nor refunded.
    problem(clear(api, declined["id"], 1_00), 409, "authorization_declined")
    problem(reverse(api, declined["id"]), 409, "authorization_declined")
    problem(refund(api, card_id, 1_00, auth_id=declined["id"]), 409, "authorization_not_cleared")
    # Exactly the rest of the limit is still approved.
    assert authorize(api, card_id, 100_00)["approved"] is True
    assert balances(api, user, account_id) == (0, 1_000_00, 0)
    assert_ledger_balanced(session)


def test_clear_below_the_hold_releases_the_rest_and_clears_once(
    api: TestClient, session: Session, holder: Any
) -> None:
    user, account_id, card_id = holder
    auth = authorize(api, card_id, 100_00)
    assert balances(api, user, account_id) == (0, 100_00, 900_00)
    r = clear(api, auth["id"], 80_00)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["amount"], body["authorized_amount"]) == ("posted", 80_00, 100_00)
    assert body["posted_at"] is not None
    assert balances(api, user, account_id) == (80_00, 0, 920_00)
    problem(clear(api, auth["id"], 80_00), 409, "authorization_already_cleared")
    problem(clear(api, auth["id"], 20_00), 409, "authorization_already_cleared")
    problem(reverse(api, auth["id"]), 409, "authorization_already_cleared")
    assert balances(api, user, account_id) == (80_00, 0, 920_00)
    assert_ledger_balanced(session)


def test_clear_above_the_hold_is_refused_outside_tipping_categories(
    api: TestClient, session: Session, holder: Any
) -> None:
    user, account_id, card_id = holder
    auth = authorize(api, card_id, 100_00)
    r = clear(api, auth["id"], 100_01)
    problem(r, 422, "clear_exceeds_authorization")
    assert r.json()["max_amount"] == 100_00
    assert balances(api, user, account_id) == (0, 100_00, 900_00)
    assert clear(api, auth["id"], 100_00).status_code == 200
    assert balances(api, user, account_id) == (100_00, 0, 900_00)


def test_restaurants_may_clear_up_to_twenty_percent_more(
    api: TestClient, session: Session, holder: Any
) -> None:
    user, account_id, card_id = holder
    tipped = authorize(api, card_id, 100_00, CAFE)
    greedy = authorize(api, card_id, 100_00, CAFE)
    r = clear(api, greedy["id"], 121_00)
    problem(r, 422, "clear_exceeds_authorization")
    assert r.json()["max_amount"] == 120_00
    r = clear(api, tipped["id"], 120_00)
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == 120_00
    assert balances(api, user, account_id) == (120_00, 100_00, 780_00)
    assert_ledger_balanced(session)


def test_reverse_releases_the_hold_once(api: TestClient, session: Session, holder: Any) -> None:
    user, account_id, card_id = holder
    auth = authorize(api, card_id, 250_00)
    r = reverse(api, auth["id"])
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["closed_reason"]) == ("reversed", "reversed")
    assert balances(api, user, account_id) == (0, 0, 1_000_00)
    problem(clear(api, auth["id"], 250_00), 409, "authorization_reversed")
    problem(reverse(api, auth["id"]), 409, "authorization_reversed")
    problem(refund(api, card_id, 1_00, auth_id=auth["id"]), 409, "authorization_not_cleared")
    assert balances(api, user, account_id) == (0, 0, 1_000_00)
    assert_ledger_balanced(session)


# --- refunds -------------------------------------------------------------------


def test_refund_without_an_authorization_posts_a_credit(
    api: TestClient, session: Session, holder: Any
) -> None:
    user, account_id, card_id = holder
    auth = authorize(api, card_id, 50_00)
    clear(api, auth["id"], 50_00)
    r = refund(api, card_id, 20_00)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["type"], body["status"], body["amount"]) == ("refund", "posted", 20_00)
    assert body["original_transaction_id"] is None
    assert balances(api, user, account_id) == (30_00, 0, 970_00)
    assert_ledger_balanced(session)


def test_linked_refunds_never_exceed_what_was_cleared(api: TestClient, session: Session, holder: Any) -> None:
    user, account_id, card_id = holder
    pending = authorize(api, card_id, 100_00)
    problem(refund(api, card_id, 1_00, auth_id=pending["id"]), 409, "authorization_not_cleared")
    auth = authorize(api, card_id, 100_00)
    clear(api, auth["id"], 60_00)  # cleared for less than the hold
    problem(refund(api, card_id, 60_01, auth_id=auth["id"]), 422, "refund_exceeds_cleared")
    first = refund(api, card_id, 25_00, auth_id=auth["id"])
    assert first.status_code == 200, first.text
    assert first.json()["original_transaction_id"] == auth["id"]
    problem(refund(api, card_id, 35_01, auth_id=auth["id"]), 422, "refund_exceeds_cleared")
    assert refund(api, card_id, 35_00, auth_id=auth["id"]).status_code == 200
    problem(refund(api, card_id, 1, auth_id=auth["id"]), 422, "refund_exceeds_cleared")
    # Another card's authorization is not this card's to refund.
    _, _, other_card = approved_customer(api)
    problem(refund(api, other_card, 1_00, auth_id=auth["id"]), 404, "authorization_not_found")
    problem(refund(api, card_id, 1_00, auth_id="auth_nope"), 404, "authorization_not_found")

    assert balances(api, user, account_id) == (0, 100_00, 900_00)
    history = api.get(
        f"/v1/accounts/{account_id}/transactions", headers=user.headers, params={"type": "purchase"}
    ).json()["data"]
    cleared = next(t for t in history if t["id"] == auth["id"])
    assert cleared["refunded_amount"] == 60_00
    assert_ledger_balanced(session)


# --- retries -------------------------------------------------------------------


def test_the_same_idempotency_key_replays_and_holds_once(
    api: TestClient, session: Session, holder: Any
) -> None:
    user, account_id, card_id = holder
    body = {"card_id": card_id, "amount": 40_00, "currency": "USD", "merchant": GROCER}
    headers = NET | {"Idempotency-Key": "net-msg-1"}
    first = api.post("/v1/network/authorizations", headers=headers, json=body)
    again = api.post("/v1/network/authorizations", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert balances(api, user, account_id) == (0, 40_00, 960_00)
    assert transaction_count(session) == 1
    changed = api.post("/v1/network/authorizations", headers=headers, json=body | {"amount": 41_00})
    problem(changed, 422, "idempotency_key_reused")

    clear_headers = NET | {"Idempotency-Key": "net-clear-1"}
    url = f"/v1/network/authorizations/{first.json()['id']}/clear"
    cleared = api.post(url, headers=clear_headers, json={"amount": 40_00})
    replayed = api.post(url, headers=clear_headers, json={"amount": 40_00})
    assert cleared.status_code == replayed.status_code == 200
    assert replayed.json() == cleared.json()
    refund_headers = NET | {"Idempotency-Key": "net-refund-1"}
    refund_body = {"card_id": card_id, "amount": 5_00, "merchant": GROCER}
    refunded = api.post("/v1/network/refunds", headers=refund_headers, json=refund_body)
    assert api.post("/v1/network/refunds", headers=refund_headers, json=refund_body).json() == refunded.json()
    assert balances(api, user, account_id) == (35_00, 0, 965_00)
    assert transaction_count(session) == 2
    assert_ledger_balanced(session)


# --- hold expiry, on an app with a clock of its own -------------------------------


@pytest.fixture
def moved_app(settings: Settings, database_url: str, engine: Any) -> Iterator[tuple[FastAPI, TestClient]]:
    """A fresh app on the same database, so moving its clock moves no other test's."""
    from api.main import create_app

    fresh = create_app(settings, database_url=database_url)
    with TestClient(fresh) as client:
        yield fresh, client


def test_holds_expire_after_seven_days(
    moved_app: tuple[FastAPI, TestClient], session_factory: sessionmaker[Session]
) -> None:
    app, client = moved_app
    user, account_id, card_id = approved_customer(client, requested_credit_limit=1_000_00)
    # Logged in before the clock moves: tokens issued on a moved sandbox clock are
    # refused by the wall-clock check of their iat (reported to the lead).
    with session_factory() as admin_session:
        admin = user_with_role(client, admin_session, "admin")
    old = authorize(client, card_id, 100_00)
    cleared = authorize(client, card_id, 50_00)
    assert clear(client, cleared["id"], 50_00).status_code == 200
    app.state.clock.advance(timedelta(days=3))
    young = authorize(client, card_id, 30_00)
    app.state.clock.advance(timedelta(days=4) - timedelta(seconds=1))

    with session_factory() as session, session.begin():  # 7 days less a second: nothing yet
        assert network.expire_holds(session, now=app.state.clock.now()) == 0
    app.state.clock.advance(timedelta(seconds=2))
    with session_factory() as session, session.begin():
        assert network.expire_holds(session, now=app.state.clock.now()) == 1

    assert balances(client, user, account_id) == (50_00, 30_00, 920_00)
    history = {
        t["id"]: t
        for t in client.get(f"/v1/accounts/{account_id}/transactions", headers=user.headers).json()["data"]
    }
    assert (history[old["id"]]["status"], history[old["id"]]["closed_reason"]) == ("reversed", "expired")
    assert history[young["id"]]["status"] == "pending"
    assert history[cleared["id"]]["status"] == "posted"
    problem(clear(client, old["id"], 100_00), 409, "authorization_expired")
    problem(reverse(client, old["id"]), 409, "authorization_expired")
    assert clear(client, young["id"], 30_00).status_code == 200
    with session_factory() as session:
        assert ledger.trial_balance(session).balanced
        assert ledger.unbalanced_transfers(session) == []
    tb = client.get("/v1/admin/ledger/trial-balance", headers=admin.headers).json()
    assert tb["balanced"] is True


# --- throughput, through real HTTP ---------------------------------------------------

THREADS = 8
PAIRS_PER_THREAD = 50


@pytest.mark.slow
def test_authorize_and_clear_throughput(app: FastAPI, live_server: str, session: Session) -> None:
    """A figure for the lead's note, not a timed assertion: authorize+clear pairs per second."""
    cards = [open_card_account(session, app, credit_limit=1_000_000_00)[2] for _ in range(THREADS)]

    def run(card_id: str) -> list[float]:
        latencies = []
        with httpx.Client(base_url=live_server, headers=NET, timeout=30) as c:
            for i in range(PAIRS_PER_THREAD):
                started = time.perf_counter()
                r = c.post(
                    "/v1/network/authorizations",
                    json={"card_id": card_id, "amount": 10_00 + i, "currency": "USD", "merchant": GROCER},
                )
                assert r.status_code == 200, r.text
                assert r.json()["approved"], r.text
                cleared = c.post(
                    f"/v1/network/authorizations/{r.json()['id']}/clear", json={"amount": 10_00 + i}
                )
                assert cleared.status_code == 200, cleared.text
                latencies.append(time.perf_counter() - started)
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        latencies = sorted(x for batch in pool.map(run, cards) for x in batch)
    elapsed = time.perf_counter() - started
    pairs = len(latencies)
    print(
        f"\nauthorize+clear: {pairs} pairs over {THREADS} threads in {elapsed:.2f} s = "
        f"{pairs / elapsed:.0f} pairs/s ({2 * pairs / elapsed:.0f} requests/s); "
        f"pair latency p50 {latencies[pairs // 2] * 1000:.0f} ms, "
        f"p95 {latencies[int(pairs * 0.95)] * 1000:.0f} ms"
    )
    assert pairs == THREADS * PAIRS_PER_THREAD
    session.expire_all()
    posted = session.execute(
        select(func.coalesce(func.sum(Transaction.amount), 0)).where(Transaction.status == "posted")
    ).scalar_one()
    assert posted == THREADS * sum(10_00 + i for i in range(PAIRS_PER_THREAD))
    assert_ledger_balanced(session)


def test_closed_accounts_closed_cards_and_huge_amounts_decline(
    api: TestClient, session: Session, holder: Any
) -> None:
    from api.accounts.models import Account
    from api.cards.models import Card

    user, account_id, card_id = holder
    too_large = authorize(api, card_id, network.MAX_AUTHORIZATION_AMOUNT + 1)
    assert (too_large["approved"], too_large["decline_code"]) == (False, "amount_too_large")

    session.get(Card, card_id).status = "closed"  # type: ignore[union-attr]
    session.commit()
    assert authorize(api, card_id, 1_00)["decline_code"] == "card_closed"
    problem(api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers), 409, "card_closed")

    session.get(Account, account_id).status = "closed"  # type: ignore[union-attr]
    session.commit()
    assert authorize(api, card_id, 1_00)["decline_code"] == "account_closed"
    assert balances(api, user, account_id) == (0, 0, 1_000_00)
    assert_ledger_balanced(session)
