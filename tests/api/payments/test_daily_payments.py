"""Billing meets payments: autopay and reconciliation in the daily job, the fee cap, the overpayment race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
import stripe
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.billing.models import Statement
from api.jobs import daily as daily_job
from api.payments import service
from cardportal.stripe_emulator import free_port
from tests.api.payments.conftest import (
    DECLINED_AT_CHARGE,
    assert_balanced,
    balance,
    count,
    event_body,
    payment_method,
)
from tests.factories import LoggedIn, login, user_with_role


def _statement(session: Session, account_id: str) -> Statement:
    session.expire_all()
    return (
        session.execute(
            select(Statement).where(Statement.account_id == account_id).order_by(Statement.period_end.desc())
        )
        .scalars()
        .first()
    )  # type: ignore[return-value]


def _advance(api: TestClient, admin: LoggedIn, **body: object) -> list[dict[str, object]]:
    response = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json=body)
    assert response.status_code == 200, response.text
    runs: list[dict[str, object]] = response.json()["runs"]
    return runs


def _noon(day: object) -> str:
    return datetime.combine(day, time(12), UTC).isoformat()  # type: ignore[call-overload]


def test_autopay_pays_on_the_due_date_minus_two_days_and_records_declines(
    api: TestClient, session: Session, make_holder, stripe_client: stripe.StripeClient
) -> None:
    payer = make_holder(balance=50_000)
    decliner = make_holder(balance=40_000)
    for holder, number, amount in (
        (payer, "4242424242424242", "minimum"),
        (decliner, DECLINED_AT_CHARGE, "statement_balance"),
    ):
        r = api.put(
            f"/v1/accounts/{holder.account_id}/autopay",
            json={"enabled": True, "amount": amount, "payment_method": payment_method(stripe_client, number)},
            headers=holder.user.headers,
        )
        assert r.status_code == 200, r.text
    admin = user_with_role(api, session, "admin")

    runs = _advance(api, admin, days=35)
    statement = _statement(session, payer.account_id)
    assert statement is not None
    # $500.00 owed: the minimum is the larger of $25 and 1 % of the balance (no interest in grace).
    assert (statement.closing_balance, statement.minimum_payment) == (50_000, 2_500)
    assert sum(int(run["counts"]["autopay_attempted"]) for run in runs) == 0  # type: ignore[index]
    due = statement.due_date
    # Through the day before the due date: the job runs through due - 2 and due - 1.
    admin = login(api, admin.email)
    runs = _advance(api, admin, to=_noon(due))
    by_day = {run["day"]: run["counts"] for run in runs}
    pay_day = (due - timedelta(days=2)).isoformat()
    assert by_day[pay_day]["autopay_attempted"] == 2  # type: ignore[index]
    assert by_day[pay_day]["autopay_failed"] == 1  # type: ignore[index]
    assert by_day[pay_day]["reconciliation"] == "ok"  # type: ignore[index]
    assert by_day[pay_day]["reconciliation_mismatches"] == 0  # type: ignore[index]
    assert all(c["autopay_attempted"] == 0 for d, c in by_day.items() if d != pay_day)  # type: ignore[index]

    payer_user = login(api, payer.user.email)
    paid = api.get(f"/v1/accounts/{payer.account_id}/payments", headers=payer_user.headers).json()["data"]
    assert [(p["initiated_by"], p["status"], p["amount"]) for p in paid] == [("autopay", "succeeded", 2_500)]
    assert paid[0]["created_at"].startswith(pay_day)
    assert balance(session, payer.account_id) == 50_000 - 2_500

    decliner_user = login(api, decliner.user.email)
    history = api.get(f"/v1/accounts/{decliner.account_id}/payments", headers=decliner_user.headers).json()
    assert [(p["initiated_by"], p["status"], p["amount"], p["failure_code"]) for p in history["data"]] == [
        ("autopay", "failed", 40_000, "card_declined")
    ]
    assert balance(session, decliner.account_id) == 40_000

    # Past the due date: the payer met the minimum; the decliner pays a late fee ($30 for a first,
    # capped by the $25 minimum that was due).
    admin = login(api, admin.email)
    _advance(api, admin, days=2)
    fees = "select coalesce(sum(amount), 0) from transactions where type = 'fee' and account_id = :a"
    assert count(session, fees, a=payer.account_id) == 0
    assert count(session, fees, a=decliner.account_id) == 2_500
    # Running the pay day again pays nothing twice.
    again = daily_job.run_day(
        api.app.state.sessionmaker,  # type: ignore[attr-defined]
        api.app.state.clock,  # type: ignore[attr-defined]
        due - timedelta(days=2),
        force=True,
    )
    # The payer's minimum is met now (nothing to attempt); the decliner's failed payment of that
    # day is found again by its key, not made twice.
    assert (again.counts["autopay_attempted"], again.counts["autopay_failed"]) == (1, 1)
    assert count(session, "select count(*) from payments") == 2
    assert balance(session, payer.account_id) == 50_000 - 2_500
    assert_balanced(session)


def test_the_daily_job_reconciles_and_survives_a_stripe_outage(
    api: TestClient,
    session: Session,
    session_factory: sessionmaker[Session],
    app: FastAPI,
    make_holder,
    stripe_client: stripe.StripeClient,
) -> None:
    make_holder(balance=1_000)
    # A PaymentIntent that no payment of ours knows: reconciliation must find it.
    planted = stripe_client.v1.payment_intents.create(
        params={"amount": 777, "currency": "usd", "payment_method_types": ["card"]}  # type: ignore[typeddict-unknown-key]
    )
    admin = user_with_role(api, session, "admin")
    today = app.state.clock.today()
    runs = _advance(api, admin, days=1)
    counts = {run["day"]: run["counts"] for run in runs}[today.isoformat()]
    assert counts["reconciliation"] == "ok"  # type: ignore[index]
    assert counts["reconciliation_mismatches"] == 1  # type: ignore[index]
    exceptions = api.get("/v1/admin/payment-exceptions", headers=admin.headers).json()["data"]
    assert [(e["stripe_id"], e["kind"]) for e in exceptions] == [(planted.id, "missing_in_payments")]

    # Stripe down: the billing day still runs and finishes; the run says reconciliation failed.
    down = stripe.StripeClient(
        "sk_test_down", base_addresses={"api": f"http://127.0.0.1:{free_port()}"}, max_network_retries=0
    )
    move = daily_job.advance_clock(session_factory, app.state.clock, days=1, stripe_client=down)
    assert [r.counts["reconciliation"] for r in move.runs] == ["failed"]
    assert all(r.finished_at is not None and r.counts["failed"] == 0 for r in move.runs)


def _dispute(send_event, payment: dict[str, object], dispute_id: str) -> None:
    body = {
        "id": dispute_id,
        "object": "dispute",
        "amount": payment["amount"],
        "payment_intent": payment["stripe_payment_intent_id"],
        "created": int(datetime.now(UTC).timestamp()),
    }
    response = send_event(event_body("charge.dispute.created", body))
    assert response.json()["outcome"] == "applied", response.text


def test_the_returned_payment_fee_is_capped_by_the_minimum_due(
    api: TestClient, session: Session, make_holder, stripe_client: stripe.StripeClient, send_event
) -> None:
    small = make_holder(balance=1_000)  # $10 owed: the minimum is the whole balance
    large = make_holder(balance=300_000, credit_limit=500_000)  # $3,000 owed: the minimum is 1 % = $30
    admin = user_with_role(api, session, "admin")
    _advance(api, admin, days=35)
    assert _statement(session, small.account_id).minimum_payment == 1_000
    assert _statement(session, large.account_id).minimum_payment == 3_000

    fees = "select coalesce(sum(amount), 0) from transactions where type = 'fee' and account_id = :a"
    for holder, amount, fee in ((small, 1_000, 1_000), (large, 3_000, 2_500)):
        holder.user = login(api, holder.user.email)
        r = api.post(
            f"/v1/accounts/{holder.account_id}/payments",
            json={"amount": amount, "payment_method": payment_method(stripe_client)},
            headers=holder.headers(),
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "succeeded"
        owed_before = balance(session, holder.account_id)
        _dispute(send_event, r.json(), f"dp_cap_{holder.account_id}")
        # Re-debited, and a fee of $25 capped by the minimum that the returned payment had met.
        assert count(session, fees, a=holder.account_id) == fee
        assert balance(session, holder.account_id) == owed_before + amount + fee

    # A second payment returned while the minimum is met by another: nothing is due, no fee.
    r1 = api.post(
        f"/v1/accounts/{large.account_id}/payments",
        json={"amount": 3_000, "payment_method": payment_method(stripe_client)},
        headers=large.headers(),
    )
    r2 = api.post(
        f"/v1/accounts/{large.account_id}/payments",
        json={"amount": 500, "payment_method": payment_method(stripe_client)},
        headers=large.headers(),
    )
    assert (r1.json()["status"], r2.json()["status"]) == ("succeeded", "succeeded")
    _dispute(send_event, r2.json(), "dp_cap_met")
    assert count(session, fees, a=large.account_id) == 2_500
    assert service.returned_payment_fee(minimum_due=1_500) == 1_500
    assert service.returned_payment_fee(minimum_due=3_000) == 2_500
    assert service.returned_payment_fee(minimum_due=0) == 0
    assert_balanced(session)


@pytest.mark.parametrize("attempts", [6])
def test_concurrent_payments_never_pay_more_than_is_owed(
    live_server: str, session: Session, make_holder, stripe_client: stripe.StripeClient, attempts: int
) -> None:
    holder = make_holder(balance=10_000)
    methods = [payment_method(stripe_client) for _ in range(attempts)]

    def pay(i: int) -> httpx.Response:
        with httpx.Client(base_url=live_server, timeout=60) as client:
            return client.post(
                f"/v1/accounts/{holder.account_id}/payments",
                json={"amount": 4_000, "payment_method": methods[i]},
                headers=holder.headers(f"race-{i}"),
            )

    with ThreadPoolExecutor(max_workers=attempts) as pool:
        responses = list(pool.map(pay, range(attempts)))
    outcomes = sorted(
        (r.status_code, r.json()["status"] if r.status_code == 201 else r.json()["code"]) for r in responses
    )
    # 10,000 owed: two payments of 4,000 fit, a third would pay 2,000 more than is owed.
    assert outcomes == [(201, "succeeded")] * 2 + [(422, "overpayment")] * (attempts - 2)
    assert balance(session, holder.account_id) == 2_000
    assert count(session, "select count(*) from payments where status = 'succeeded'") == 2
    assert_balanced(session)
