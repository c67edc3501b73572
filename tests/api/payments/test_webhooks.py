"""Stripe webhooks: verification, storage by id, exactly-once under redelivery and disorder.

Cases: the emulator's own delivery to a real server; one event delivered 5
times in parallel; 5 distinct events for one PaymentIntent in parallel;
succeeded then failed (and failed then succeeded) out of order; refunds
(partial, repeated, over-refunded); a dispute with its returned-payment fee;
unknown types; unsigned, forged, stale, future-dated and malformed bodies.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from api.payments import service, webhooks
from api.payments.models import Payment
from tests.api.payments.conftest import (
    DECLINED_AT_CHARGE,
    assert_balanced,
    balance,
    count,
    event_body,
    payment_method,
    sign,
)

DEAD_URL = "http://127.0.0.1:9/nowhere"


def _pay(api, holder, stripe_client, amount, number="4242424242424242"):
    response = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": amount, "payment_method": payment_method(stripe_client, number)},
        headers=holder.headers(),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _confirmed_but_unapplied(session: Session, app, holder, stripe_client, amount: int) -> tuple[str, str]:
    """A payment whose request died after Stripe confirmed it: pending here, succeeded at Stripe."""
    now = app.state.clock.now()
    customer = service.ensure_customer(session, user_id=holder.user.user_id, client=stripe_client)
    pm = service.attach_payment_method(
        stripe_client, payment_method=payment_method(stripe_client), customer_id=customer
    )
    assert isinstance(pm, str)
    payment = Payment(
        id="pay_crashed" + str(time.time_ns())[-12:],
        account_id=holder.account_id,
        user_id=holder.user.user_id,
        initiated_by="customer",
        idempotency_key="crashed",
        amount=amount,
        currency="USD",
        status="pending",
        stripe_customer_id=customer,
        stripe_payment_method_id=pm,
        created_at=now,
        updated_at=now,
    )
    intent = stripe_client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "usd",
            "customer": customer,
            "payment_method": pm,
            "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
            "metadata": {"cardportal_payment_id": payment.id},
        }
    )
    payment.stripe_payment_intent_id = intent.id
    session.add(payment)
    session.commit()
    confirmed = stripe_client.v1.payment_intents.confirm(intent.id)
    assert confirmed.status == "succeeded"
    return payment.id, str(intent.id)


def _emulator_event(stripe_client, type_: str, intent_id: str) -> str:
    """The event the emulator generated for this PaymentIntent, as it would send it."""
    for event in stripe_client.v1.events.list(params={"type": type_, "limit": 100}).auto_paging_iter():
        if event.data.object["id"] == intent_id:
            return json.dumps(event.to_dict(), sort_keys=True)
    raise AssertionError(f"no {type_} event for {intent_id}")


def test_the_emulator_delivers_its_webhooks_to_the_api(
    api, session: Session, make_holder, stripe_client, stripe_sandbox, live_server, webhook_secret
):
    stripe_sandbox.register_webhook(f"{live_server}/v1/webhooks/stripe", webhook_secret)
    try:
        holder = make_holder(balance=9_000)
        paid = _pay(api, holder, stripe_client, 4_000)
        declined = _pay(api, holder, stripe_client, 1_000, DECLINED_AT_CHARGE)
        wanted = {paid["stripe_payment_intent_id"], declined["stripe_payment_intent_id"]}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            session.expire_all()
            got = {
                row[0]: (row[1], row[2])
                for row in session.execute(text("select object_id, type, outcome from stripe_events"))
            }
            if wanted <= set(got):
                break
            time.sleep(0.2)
        assert got[paid["stripe_payment_intent_id"]] == ("payment_intent.succeeded", "no_change")
        assert got[declined["stripe_payment_intent_id"]] == ("payment_intent.payment_failed", "no_change")
    finally:
        stripe_sandbox.register_webhook(DEAD_URL, webhook_secret)
    assert balance(session, holder.account_id) == 5_000
    assert_balanced(session)


def test_one_event_five_times_in_parallel_moves_money_once(
    session: Session, app, make_holder, stripe_client, live_server, webhook_secret
):
    holder = make_holder(balance=9_000)
    payment_id, intent_id = _confirmed_but_unapplied(session, app, holder, stripe_client, 3_000)
    body = _emulator_event(stripe_client, "payment_intent.succeeded", intent_id)
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, webhook_secret)}

    def deliver(_: int) -> tuple[int, str]:
        response = httpx.post(f"{live_server}/v1/webhooks/stripe", content=body, headers=headers, timeout=30)
        return response.status_code, response.json().get("outcome", "")

    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(deliver, range(5)))
    assert [status for status, _ in results] == [200] * 5
    assert sorted(outcome for _, outcome in results) == ["applied"] + ["duplicate"] * 4
    assert balance(session, holder.account_id) == 6_000
    assert count(session, "select count(*) from stripe_events") == 1
    assert count(session, "select count(*) from payment_postings") == 1
    status = session.execute(text("select status from payments where id = :id"), {"id": payment_id}).scalar()
    assert status == "succeeded"
    assert_balanced(session)


def test_five_distinct_events_for_one_intent_in_parallel_move_money_once(
    session: Session, app, make_holder, stripe_client, live_server, webhook_secret
):
    holder = make_holder(balance=9_000)
    _, intent_id = _confirmed_but_unapplied(session, app, holder, stripe_client, 2_500)
    intent = stripe_client.v1.payment_intents.retrieve(intent_id).to_dict()
    bodies = [event_body("payment_intent.succeeded", intent) for _ in range(5)]

    def deliver(body: str) -> str:
        response = httpx.post(
            f"{live_server}/v1/webhooks/stripe",
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, webhook_secret)},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["outcome"])

    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = sorted(pool.map(deliver, bodies))
    assert outcomes == ["applied"] + ["no_change"] * 4
    assert balance(session, holder.account_id) == 6_500
    assert count(session, "select count(*) from stripe_events") == 5
    assert_balanced(session)


def test_failed_after_succeeded_does_not_undo_it(
    api, session: Session, make_holder, stripe_client, send_event
):
    holder = make_holder(balance=8_000)
    paid = _pay(api, holder, stripe_client, 5_000)
    intent = stripe_client.v1.payment_intents.retrieve(paid["stripe_payment_intent_id"]).to_dict()
    stale = dict(intent, status="requires_payment_method", last_payment_error={"code": "card_declined"})
    response = send_event(event_body("payment_intent.payment_failed", stale, created=int(time.time()) - 120))
    assert response.status_code == 200
    assert response.json()["outcome"] == "no_change"
    payments = api.get(f"/v1/accounts/{holder.account_id}/payments", headers=holder.user.headers).json()
    assert payments["data"][0]["status"] == "succeeded"
    assert payments["data"][0]["failure_code"] is None
    # A late redelivery of the success changes nothing either.
    again = send_event(event_body("payment_intent.succeeded", intent))
    assert again.json()["outcome"] == "no_change"
    assert balance(session, holder.account_id) == 3_000
    assert_balanced(session)


def test_a_forged_success_for_a_declined_payment_moves_nothing(
    api, session: Session, make_holder, stripe_client, send_event
):
    holder = make_holder(balance=8_000)
    declined = _pay(api, holder, stripe_client, 5_000, DECLINED_AT_CHARGE)
    intent = stripe_client.v1.payment_intents.retrieve(declined["stripe_payment_intent_id"]).to_dict()
    # Correctly signed, but Stripe's current state says the PaymentIntent did not succeed.
    response = send_event(event_body("payment_intent.succeeded", dict(intent, status="succeeded")))
    assert response.status_code == 200
    assert response.json()["outcome"] == "no_change"
    assert balance(session, holder.account_id) == 8_000
    assert count(session, "select count(*) from payment_postings") == 0
    assert_balanced(session)


def test_refunds_re_debit_the_account_once_each(
    api, session: Session, make_holder, stripe_client, send_event
):
    holder = make_holder(balance=8_000)
    paid = _pay(api, holder, stripe_client, 5_000)
    assert balance(session, holder.account_id) == 3_000
    charge_id = stripe_client.v1.payment_intents.retrieve(paid["stripe_payment_intent_id"]).latest_charge.id
    stripe_client.v1.refunds.create(
        params={"payment_intent": paid["stripe_payment_intent_id"], "amount": 2_000}
    )
    charge = stripe_client.v1.charges.retrieve(charge_id).to_dict()

    first = send_event(event_body("charge.refunded", charge))
    assert first.json()["outcome"] == "applied"
    assert balance(session, holder.account_id) == 5_000
    # The same refund announced again (another event id): nothing more.
    assert send_event(event_body("charge.refunded", charge)).json()["outcome"] == "no_change"
    assert balance(session, holder.account_id) == 5_000
    # A second refund, then one beyond what was paid (the emulator accepts over-refunds): capped.
    # Made in distinct seconds, so that "oldest first" names one order (the same second is
    # ordered by id, which the emulator draws at random).
    stripe_client.v1.refunds.create(
        params={"payment_intent": paid["stripe_payment_intent_id"], "amount": 1_000}
    )
    _next_second()
    stripe_client.v1.refunds.create(
        params={"payment_intent": paid["stripe_payment_intent_id"], "amount": 4_000}
    )
    assert send_event(event_body("charge.refunded", charge)).json()["outcome"] == "applied"
    assert balance(session, holder.account_id) == 8_000
    row = session.execute(
        text("select status, returned_amount from payments where id = :id"), {"id": paid["id"]}
    ).one()
    assert tuple(row) == ("succeeded", 5_000)
    reversals = api.get(
        f"/v1/accounts/{holder.account_id}/transactions?type=reversal", headers=holder.user.headers
    ).json()["data"]
    assert sorted(t["amount"] for t in reversals) == [1_000, 2_000, 2_000]
    assert count(session, "select count(*) from transactions where type = 'fee'") == 0
    assert_balanced(session)


def _next_second() -> None:
    """Wait until the wall clock's second changes (Stripe's ``created`` is in whole seconds)."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


def _refunded_twice(api, make_holder, stripe_client) -> tuple[dict, str, list[str]]:
    """A 5,000 payment refunded 4,000, then (a second later) 3,000: 2,000 more than was paid."""
    holder = make_holder(balance=8_000)
    paid = _pay(api, holder, stripe_client, 5_000)
    intent = paid["stripe_payment_intent_id"]
    first = stripe_client.v1.refunds.create(params={"payment_intent": intent, "amount": 4_000})
    _next_second()
    second = stripe_client.v1.refunds.create(params={"payment_intent": intent, "amount": 3_000})
    assert first.created < second.created
    charge_id = stripe_client.v1.payment_intents.retrieve(intent).latest_charge.id
    return {"holder": holder, "paid": paid}, charge_id, [first.id, second.id]


def test_the_cap_on_refunds_falls_on_the_last_one_made(
    api, session: Session, make_holder, stripe_client, send_event
):
    """Stripe lists a charge's refunds newest first ("The refunds are returned in sorted order,
    with the most recent refunds appearing first", Stripe API reference, List all refunds). Applied
    in the list's order, the 3,000 made last took its whole amount and the cap (never more than
    the 5,000 paid) cut the 4,000 made first to 2,000. Applied oldest first, the 4,000 is
    returned whole and the 3,000 made after it only the 1,000 left of the payment."""
    world, charge_id, (first_id, second_id) = _refunded_twice(api, make_holder, stripe_client)
    holder, paid = world["holder"], world["paid"]
    listed = [r.id for r in stripe_client.v1.refunds.list(params={"charge": charge_id}).auto_paging_iter()]
    assert listed == [second_id, first_id]  # newest first, as Stripe documents
    charge = stripe_client.v1.charges.retrieve(charge_id).to_dict()

    assert send_event(event_body("charge.refunded", charge)).json()["outcome"] == "applied"
    moved = dict(
        session.execute(
            text("select stripe_object_id, amount from payment_postings where kind = 'refund'")
        ).all()
    )
    assert moved == {first_id: 4_000, second_id: 1_000}
    assert balance(session, holder.account_id) == 3_000 + 5_000
    assert count(session, "select returned_amount from payments where id = :id", id=paid["id"]) == 5_000
    assert_balanced(session)


def test_the_outcome_of_refunds_does_not_depend_on_the_order_listed(
    api, session: Session, make_holder, stripe_client
):
    """The same refunds presented in both orders re-debit the same amounts, refund for refund."""
    outcomes = []
    for presented in ("as_listed", "reversed"):
        world, charge_id, ids = _refunded_twice(api, make_holder, stripe_client)
        refunds = list(stripe_client.v1.refunds.list(params={"charge": charge_id}).auto_paging_iter())
        if presented == "reversed":
            refunds.reverse()
        moved = webhooks.apply_refunds(
            session, payment_id=world["paid"]["id"], refunds=refunds, now=datetime.now(UTC)
        )
        session.commit()
        assert moved == 5_000
        by_id = dict(
            session.execute(
                text(
                    "select stripe_object_id, amount from payment_postings where stripe_object_id in :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"ids": ids},
            ).all()
        )
        outcomes.append([by_id[i] for i in ids])
    # Oldest first each time: the 4,000 whole, the 3,000 made after it cut to the 1,000 left.
    assert outcomes == [[4_000, 1_000], [4_000, 1_000]]
    assert_balanced(session)


def test_a_dispute_re_debits_once_and_no_fee_before_a_statement(
    api, session: Session, make_holder, stripe_client, send_event
):
    holder = make_holder(balance=8_000)
    paid = _pay(api, holder, stripe_client, 5_000)
    charge_id = stripe_client.v1.payment_intents.retrieve(paid["stripe_payment_intent_id"]).latest_charge.id
    dispute = {
        "id": "dp_test_1",
        "object": "dispute",
        "amount": 5_000,
        "currency": "usd",
        "charge": charge_id,
        "reason": "fraudulent",
        "status": "needs_response",
        "created": int(time.time()),
    }
    response = send_event(event_body("charge.dispute.created", dispute))
    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"
    # 3,000 owed before the return, + 5,000 re-debited; no statement yet, so no minimum payment
    # was due and no returned-payment fee may be charged (the fee with a statement:
    # test_daily_payments.py).
    assert balance(session, holder.account_id) == 3_000 + 5_000
    assert send_event(event_body("charge.dispute.created", dispute)).json()["outcome"] == "no_change"
    assert balance(session, holder.account_id) == 8_000
    fees = api.get(
        f"/v1/accounts/{holder.account_id}/transactions?type=fee", headers=holder.user.headers
    ).json()
    assert fees["data"] == []
    assert_balanced(session)


def test_the_returned_payment_fee_never_exceeds_what_was_owed(
    api, session: Session, make_holder, stripe_client, send_event
):
    holder = make_holder(balance=5_000)
    paid = _pay(api, holder, stripe_client, 4_200)  # 800 owed afterwards
    dispute = {
        "id": "dp_test_2",
        "object": "dispute",
        "amount": 4_200,
        "payment_intent": paid["stripe_payment_intent_id"],
        "created": int(time.time()),
    }
    assert send_event(event_body("charge.dispute.created", dispute)).json()["outcome"] == "applied"
    assert balance(session, holder.account_id) == 800 + 4_200  # no statement: nothing due, no fee
    assert service.returned_payment_fee(minimum_due=0) == 0
    assert service.returned_payment_fee(minimum_due=1_500) == 1_500
    assert_balanced(session)


def test_unknown_types_are_stored_and_ignored_and_seen_ids_change_nothing(session: Session, send_event):
    body = event_body("customer.created", {"id": "cus_x", "object": "customer"}, event_id="evt_unknown_1")
    first = send_event(body)
    assert first.status_code == 200
    assert first.json()["outcome"] == "ignored"
    second = send_event(body)
    assert second.status_code == 200
    assert second.json()["outcome"] == "duplicate"
    assert count(session, "select count(*) from stripe_events where id = 'evt_unknown_1'") == 1


@pytest.mark.parametrize(
    ("case", "body", "signature"),
    [
        ("unsigned", event_body("payment_intent.succeeded", {"id": "pi_1"}), None),
        ("forged", event_body("payment_intent.succeeded", {"id": "pi_1"}), "wrong-secret"),
        ("stale", event_body("payment_intent.succeeded", {"id": "pi_1"}), "stale"),
        ("future", event_body("payment_intent.succeeded", {"id": "pi_1"}), "future"),
        ("garbage header", event_body("payment_intent.succeeded", {"id": "pi_1"}), "garbage"),
        ("no v1 signature", event_body("payment_intent.succeeded", {"id": "pi_1"}), "no-v1"),
        ("malformed json", '{"id": "evt_1", "type": ', "good"),
        ("not an object", "[1, 2, 3]", "good"),
        ("no data.object", json.dumps({"id": "evt_2", "type": "x", "created": 1}), "good"),
        (
            "created not an int",
            json.dumps({"id": "evt_3", "type": "x", "created": "now", "data": {"object": {}}}),
            "good",
        ),
        ("not utf-8", b"\xff\xfe\x00garbage", "good"),
    ],
)
def test_bad_webhooks_are_400_and_store_nothing(api, session: Session, webhook_secret, case, body, signature):
    raw = body if isinstance(body, bytes) else body.encode()
    now = int(time.time())
    headers = {"Content-Type": "application/json"}
    if signature == "good":
        # Signed over the bytes as sent (latin-1 keeps a non-UTF-8 body's bytes).
        headers["Stripe-Signature"] = sign(raw.decode("latin-1"), webhook_secret)
    elif signature == "wrong-secret":
        headers["Stripe-Signature"] = sign(raw.decode(), "whsec_someone_else")
    elif signature == "stale":
        headers["Stripe-Signature"] = sign(raw.decode(), webhook_secret, now - 301)
    elif signature == "future":
        headers["Stripe-Signature"] = sign(raw.decode(), webhook_secret, now + 301)
    elif signature == "garbage":
        headers["Stripe-Signature"] = "t=notatime,v1=zz"
    elif signature == "no-v1":
        headers["Stripe-Signature"] = sign(raw.decode(), webhook_secret).replace("v1=", "v0=")
    response = api.post("/v1/webhooks/stripe", content=raw, headers=headers)
    assert response.status_code == 400, (case, response.text)
    assert response.json()["code"] == "invalid_webhook"
    assert count(session, "select count(*) from stripe_events") == 0


def test_a_webhook_within_the_tolerance_is_accepted(send_event):
    body = event_body("customer.created", {"id": "cus_y"})
    assert send_event(body, timestamp=int(time.time()) - 290).status_code == 200
    body = event_body("customer.created", {"id": "cus_z"})
    assert send_event(body, timestamp=int(time.time()) + 290).status_code == 200
