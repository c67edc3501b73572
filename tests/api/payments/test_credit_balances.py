"""Credit balances returned to the cardholder: 12 CFR 1026.11(a) (REGZ.md R16).

The regulation: "When a credit balance in excess of $1 is created on a credit account
(through transmittal of funds to a creditor in excess of the total balance due on an
account, through rebates of unearned finance charges or insurance premiums, or through
amounts otherwise owed to or held for the benefit of the consumer), the creditor shall:
(1) Credit the amount of the credit balance to the consumer's account; (2) Refund any part
of the remaining credit balance within seven business days from receipt of a written request
from the consumer; (3) Make a good faith effort to refund to the consumer by cash, check, or
money order, or credit to a deposit account of the consumer, any part of the credit balance
remaining in the account for more than six months."

Comment 11(a)-2 (amount of refund): "any part of the remaining credit balance" means "the
amount of the credit balance at the time the creditor is required to make the refund".
"""

from __future__ import annotations

import calendar
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.billing.helpers import at, move_clock_to
from tests.api.payments.conftest import (
    Holder,
    assert_balanced,
    balance,
    count,
    event_body,
    payment_method,
)
from tests.factories import NETWORK_HEADERS, user_with_role

MERCHANT = {"name": "Hardware Store", "mcc": "5251", "country": "US"}


def _pay(api: TestClient, holder: Holder, stripe_client: Any, amount: int) -> dict[str, Any]:
    r = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": amount, "payment_method": payment_method(stripe_client)},
        headers=holder.headers(),
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "succeeded"
    body: dict[str, Any] = r.json()
    return body


def _merchant_refund(api: TestClient, holder: Holder, amount: int) -> dict[str, Any]:
    r = api.post(
        "/v1/network/refunds",
        headers=NETWORK_HEADERS,
        json={"card_id": holder.card_id, "amount": amount, "currency": "USD", "merchant": MERCHANT},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _overpaid(
    api: TestClient, make_holder: Any, stripe_client: Any
) -> tuple[Holder, dict[str, Any], dict[str, Any]]:
    """Owes 100.00, pays 40.00 then 60.00 (paid in full), then the merchant refunds 70.00 of the
    purchase: a credit balance of 70.00 "owed to [...] the consumer"."""
    holder = make_holder(balance=100_00)
    first = _pay(api, holder, stripe_client, 40_00)
    second = _pay(api, holder, stripe_client, 60_00)
    _merchant_refund(api, holder, 70_00)
    return holder, first, second


def _refunds_at_stripe(stripe_client: Any, intent_id: str) -> list[int]:
    listed = stripe_client.v1.refunds.list(params={"payment_intent": intent_id}).auto_paging_iter()
    return sorted(int(r.amount) for r in listed)


def _ask(api: TestClient, holder: Holder, key: str | None = None) -> httpx.Response:
    return api.post(f"/v1/accounts/{holder.account_id}/credit-balance-refunds", headers=holder.headers(key))


def test_refund_on_request(
    api: TestClient, session: Session, make_holder: Any, stripe_client: Any, send_event: Any
) -> None:
    holder, first, second = _overpaid(api, make_holder, stripe_client)
    assert balance(session, holder.account_id) == -70_00
    # Before: no such endpoint (404); the 70.00 stayed on the account until spent.
    r = _ask(api, holder, key="cbr-1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["amount"] == 70_00  # the whole credit balance at the time of the request
    assert body["status"] == "succeeded"
    assert body["id"].startswith("cbr_")
    # Back through the cardholder's own payments, newest first, each at most what is left of it:
    # all 60.00 of the second payment, then 10.00 of the first.
    assert _refunds_at_stripe(stripe_client, second["stripe_payment_intent_id"]) == [60_00]
    assert _refunds_at_stripe(stripe_client, first["stripe_payment_intent_id"]) == [10_00]
    assert [(r["payment_id"], r["amount"]) for r in body["stripe_refunds"]] == [
        (second["id"], 60_00),
        (first["id"], 10_00),
    ]
    # The receivable comes back up by what was refunded: nothing owed either way.
    assert balance(session, holder.account_id) == 0
    returned = dict(session.execute(text("select id, returned_amount from payments")).all())
    assert returned == {first["id"]: 10_00, second["id"]: 60_00}
    history = api.get(
        f"/v1/accounts/{holder.account_id}/transactions?type=reversal", headers=holder.user.headers
    ).json()["data"]
    assert sorted(t["amount"] for t in history) == [10_00, 60_00]

    # Idempotency-Key: the same key replays the first answer and refunds nothing more.
    replay = _ask(api, holder, key="cbr-1")
    assert replay.status_code == 201
    assert replay.json() == body
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert _refunds_at_stripe(stripe_client, first["stripe_payment_intent_id"]) == [10_00]

    # Stripe's charge.refunded for the refunds we made finds them posted: no second re-debit.
    charge_id = stripe_client.v1.payment_intents.retrieve(second["stripe_payment_intent_id"]).latest_charge.id
    charge = stripe_client.v1.charges.retrieve(charge_id).to_dict()
    assert send_event(event_body("charge.refunded", charge)).json()["outcome"] == "no_change"
    assert balance(session, holder.account_id) == 0

    # The audit trail names who asked, for which account and how much.
    row = session.execute(
        text("select actor_id, detail from audit_events where action = 'credit_balance.refunded'")
    ).one()
    assert row[0] == holder.user.user_id
    assert row[1]["amount"] == 70_00
    assert row[1]["account_id"] == holder.account_id
    assert_balanced(session)


def test_no_credit_balance_is_409_and_changes_nothing(
    api: TestClient, session: Session, make_holder: Any, stripe_client: Any
) -> None:
    holder = make_holder(balance=50_00)
    paid = _pay(api, holder, stripe_client, 20_00)
    r = _ask(api, holder)
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "no_credit_balance"
    assert balance(session, holder.account_id) == 30_00
    assert _refunds_at_stripe(stripe_client, paid["stripe_payment_intent_id"]) == []
    assert count(session, "select count(*) from credit_balance_refunds") == 0
    assert count(session, "select count(*) from audit_events where action = 'credit_balance.refunded'") == 0
    # Paid in full is not a credit balance either; another customer's account is a 404.
    _pay(api, holder, stripe_client, 30_00)
    assert _ask(api, holder).json()["code"] == "no_credit_balance"
    stranger = make_holder(balance=0)
    other = api.post(f"/v1/accounts/{holder.account_id}/credit-balance-refunds", headers=stranger.headers())
    assert other.status_code == 404
    assert_balanced(session)


def test_two_requests_at_once_refund_once(
    session: Session, make_holder: Any, stripe_client: Any, api: TestClient, live_server: str
) -> None:
    holder, first, second = _overpaid(api, make_holder, stripe_client)

    def ask(n: int) -> tuple[int, Any]:
        response = httpx.post(
            f"{live_server}/v1/accounts/{holder.account_id}/credit-balance-refunds",
            headers=holder.headers(f"concurrent-{n}"),
            timeout=60,
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(ask, range(2)), key=lambda r: r[0])
    assert [status for status, _ in results] == [201, 409]
    assert results[0][1]["amount"] == 70_00
    assert results[1][1]["code"] == "no_credit_balance"
    assert _refunds_at_stripe(stripe_client, second["stripe_payment_intent_id"]) == [60_00]
    assert _refunds_at_stripe(stripe_client, first["stripe_payment_intent_id"]) == [10_00]
    assert balance(session, holder.account_id) == 0
    assert count(session, "select count(*) from credit_balance_refunds") == 1
    assert_balanced(session)


def test_a_credit_balance_no_payment_can_take_back_awaits_a_check(
    api: TestClient, session: Session, make_holder: Any, stripe_client: Any
) -> None:
    """Merchant refunds on an account never paid by card: nothing to refund through Stripe. The
    regulation names "cash, check, or money order, or credit to a deposit account": a check,
    recorded as pending for the issuer's operations (admins) to mail; the credit stays on the
    account until it is paid, and is not asked for twice."""
    holder = make_holder(balance=0)
    _merchant_refund(api, holder, 45_00)
    assert balance(session, holder.account_id) == -45_00
    r = _ask(api, holder)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["amount"], body["status"], body["pending_amount"], body["method"]) == (
        45_00,
        "pending",
        45_00,
        "check",
    )
    assert body["stripe_refunds"] == []
    assert balance(session, holder.account_id) == -45_00
    assert _ask(api, holder).json()["code"] == "no_credit_balance"
    admin = user_with_role(api, session, "admin")
    pending = api.get("/v1/admin/credit-balance-refunds?status=pending", headers=admin.headers).json()["data"]
    assert [(p["id"], p["account_id"], p["pending_amount"]) for p in pending] == [
        (body["id"], holder.account_id, 45_00)
    ]
    customer_view = api.get("/v1/admin/credit-balance-refunds", headers=holder.user.headers)
    assert customer_view.status_code == 403
    assert_balanced(session)


def _six_months_later(day: date) -> date:
    """The same day six calendar months later (the month's last day when it has fewer days)."""
    year, month = divmod(day.year * 12 + day.month - 1 + 6, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def test_refund_after_six_months(
    api: TestClient, app: FastAPI, session: Session, make_holder: Any, stripe_client: Any
) -> None:
    """1026.11(a)(3): "any part of the credit balance remaining in the account for more than six
    months" is refunded by the platform, without a request: the daily job's payments step."""
    move_clock_to(app, at(2033, 3, 10, 15))
    holder, first, second = _overpaid(api, make_holder, stripe_client)
    created = app.state.clock.now()
    assert created.date() == date(2033, 3, 10)
    admin = user_with_role(api, session, "admin")
    refund_day = _six_months_later(created.date())  # 2033-09-10: its end is past six months
    assert refund_day == date(2033, 9, 10)

    # Every day up to the one before: the balance has not yet remained "more than six months".
    to = datetime.combine(refund_day, time.min, tzinfo=UTC)
    moved = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"to": to.isoformat()})
    assert moved.status_code == 200, moved.text
    assert count(session, "select count(*) from credit_balance_refunds") == 0
    assert balance(session, holder.account_id) == -70_00

    # The six-month day ends: the platform refunds the whole credit balance, as on request.
    moved = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 1})
    assert moved.status_code == 200, moved.text
    row = session.execute(
        text("select amount, status, initiated_by, requested_by, created_at from credit_balance_refunds")
    ).one()
    assert tuple(row[:4]) == (70_00, "succeeded", "platform", None)
    assert row[4] == datetime.combine(refund_day, time.max, tzinfo=UTC)
    assert _refunds_at_stripe(stripe_client, second["stripe_payment_intent_id"]) == [60_00]
    assert _refunds_at_stripe(stripe_client, first["stripe_payment_intent_id"]) == [10_00]
    assert balance(session, holder.account_id) == 0
    listed = api.get(
        f"/v1/accounts/{holder.account_id}/credit-balance-refunds", headers=holder.user.headers
    ).json()["data"]
    assert [(r["amount"], r["initiated_by"]) for r in listed] == [(70_00, "platform")]
    assert count(session, "select count(*) from audit_events where action = 'credit_balance.refunded'") == 1

    # Nothing more the next day.
    api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 1})
    assert count(session, "select count(*) from credit_balance_refunds") == 1
    assert_balanced(session)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2033, 9, 10, 12, tzinfo=UTC), datetime(2033, 3, 10, 12, tzinfo=UTC)),
        (datetime(2033, 8, 31, tzinfo=UTC), datetime(2033, 2, 28, tzinfo=UTC)),
        (datetime(2034, 2, 15, tzinfo=UTC), datetime(2033, 8, 15, tzinfo=UTC)),
    ],
)
def test_six_calendar_months_before(moment: datetime, expected: datetime) -> None:
    from api.payments.credit_balances import months_before

    assert months_before(moment, 6) == expected
    assert moment - months_before(moment, 6) > timedelta(days=180)
