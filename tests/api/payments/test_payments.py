"""Paying a card account through Stripe (the emulator), and the bad inputs around it."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.payments.conftest import (
    DECLINED_AT_ATTACH,
    DECLINED_AT_CHARGE,
    assert_balanced,
    balance,
    count,
    payment_method,
)


def test_a_payment_lowers_the_balance_once(api, session: Session, make_holder, stripe_client):
    holder = make_holder(balance=10_000)
    pm = payment_method(stripe_client)
    headers = holder.headers("pay-once")
    response = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": 4_000, "payment_method": pm},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("pay_")
    assert body["status"] == "succeeded"
    assert body["amount"] == 4_000
    assert body["failure_code"] is None
    assert body["stripe_payment_intent_id"].startswith("pi_")
    assert balance(session, holder.account_id) == 6_000

    # Stripe has the PaymentIntent with our payment id, confirmed, for the amount, on one customer.
    intent = stripe_client.v1.payment_intents.retrieve(body["stripe_payment_intent_id"])
    assert intent.status == "succeeded"
    assert intent.amount == 4_000
    assert intent.metadata["cardportal_payment_id"] == body["id"]

    # The same request again replays the answer and moves nothing.
    again = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": 4_000, "payment_method": pm},
        headers=headers,
    )
    assert again.status_code == 201
    assert again.json() == body
    assert balance(session, holder.account_id) == 6_000

    # A second payment reuses the Stripe customer.
    second = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": 1_000, "payment_method": payment_method(stripe_client)},
        headers=holder.headers(),
    )
    assert second.json()["status"] == "succeeded"
    assert balance(session, holder.account_id) == 5_000
    assert count(session, "select count(*) from stripe_customers") == 1
    assert count(session, "select count(*) from payment_postings where kind = 'payment'") == 2

    # Audit: who paid, from which request; the payment in the account's history.
    row = session.execute(
        text("select user_id, request_id, initiated_by from payments where id = :id"), {"id": body["id"]}
    ).one()
    assert row.user_id == holder.user.user_id
    assert row.request_id
    assert row.initiated_by == "customer"
    history = api.get(
        f"/v1/accounts/{holder.account_id}/transactions?type=payment", headers=holder.user.headers
    ).json()
    assert sorted(t["amount"] for t in history["data"]) == [1_000, 4_000]
    assert all(t["status"] == "posted" for t in history["data"])

    listed = api.get(f"/v1/accounts/{holder.account_id}/payments?limit=1", headers=holder.user.headers).json()
    assert [p["id"] for p in listed["data"]] == [second.json()["id"]]
    rest = api.get(
        f"/v1/accounts/{holder.account_id}/payments?cursor={listed['next_cursor']}",
        headers=holder.user.headers,
    ).json()
    assert [p["id"] for p in rest["data"]] == [body["id"]]
    assert_balanced(session)


def test_a_card_declined_at_charge_is_a_failed_payment_that_moves_nothing(
    api, session: Session, make_holder, stripe_client
):
    holder = make_holder(balance=10_000)
    response = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": 3_000, "payment_method": payment_method(stripe_client, DECLINED_AT_CHARGE)},
        headers=holder.headers(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert body["failure_code"] == "card_declined"
    assert body["stripe_payment_intent_id"].startswith("pi_")
    assert balance(session, holder.account_id) == 10_000
    assert count(session, "select count(*) from payment_postings") == 0
    assert_balanced(session)


def test_a_card_declined_at_attach_is_a_failed_payment_without_intent(
    api, session: Session, make_holder, stripe_client
):
    holder = make_holder(balance=10_000)
    response = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": 3_000, "payment_method": payment_method(stripe_client, DECLINED_AT_ATTACH)},
        headers=holder.headers(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "failed"
    assert response.json()["failure_code"] == "card_declined"
    assert response.json()["stripe_payment_intent_id"] is None
    assert balance(session, holder.account_id) == 10_000
    assert_balanced(session)


def test_bad_payments_are_refused_and_change_nothing(api, session: Session, make_holder, stripe_client):
    holder = make_holder(balance=10_000)
    other = make_holder(balance=5_000)
    pm = payment_method(stripe_client)
    url = f"/v1/accounts/{holder.account_id}/payments"

    def pay(amount, method=pm, *, headers=None, account_url=url):
        return api.post(
            account_url,
            json={"amount": amount, "payment_method": method},
            headers=headers or holder.headers(),
        )

    for amount, code in ((0, "invalid_amount"), (-500, "invalid_amount"), (10_001, "overpayment")):
        response = pay(amount)
        assert response.status_code == 422, (amount, response.text)
        assert response.json()["code"] == code
    missing = pay(1_000, "pm_doesnotexist")
    assert missing.status_code == 422
    assert missing.json()["code"] == "resource_missing"
    assert missing.json()["stripe_code"] == "resource_missing"
    assert pay(1_000, "not a method!").status_code == 422
    assert (
        api.post(url, json={"amount": "100", "payment_method": pm}, headers=holder.headers()).status_code
        == 422
    )
    # Another customer's account is a 404, not a 403.
    foreign = pay(1_000, account_url=f"/v1/accounts/{other.account_id}/payments")
    assert foreign.status_code == 404
    assert foreign.json()["code"] == "account_not_found"
    # No Idempotency-Key: 400.
    assert (
        api.post(url, json={"amount": 100, "payment_method": pm}, headers=holder.user.headers).status_code
        == 400
    )
    # The same key with another amount: 422, and the first payment stands alone.
    first = pay(1_000, headers=holder.headers("same-key"))
    assert first.status_code == 201
    reused = pay(2_000, headers=holder.headers("same-key"))
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"

    assert balance(session, holder.account_id) == 9_000
    assert balance(session, other.account_id) == 5_000
    assert count(session, "select count(*) from payments") == 1
    assert_balanced(session)


def test_a_closed_account_can_still_pay(api, session: Session, make_holder, stripe_client):
    holder = make_holder(balance=2_000)
    session.execute(text("update accounts set status = 'closed' where id = :id"), {"id": holder.account_id})
    session.commit()
    response = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": 2_000, "payment_method": payment_method(stripe_client)},
        headers=holder.headers(),
    )
    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"
    assert balance(session, holder.account_id) == 0
    assert_balanced(session)
