"""Autopay: the setting, and ``run_autopay`` as the daily job will call it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from api.payments import service
from tests.api.payments.conftest import DECLINED_AT_CHARGE, assert_balanced, balance, payment_method


def test_the_autopay_setting(api, session: Session, make_holder, stripe_client):
    holder = make_holder(balance=1_000)
    other = make_holder(balance=0)
    url = f"/v1/accounts/{holder.account_id}/autopay"
    default = api.get(url, headers=holder.user.headers)
    assert default.status_code == 200
    assert default.json()["enabled"] is False
    assert default.json()["payment_method"] is None

    needs_method = api.put(url, json={"enabled": True, "amount": "minimum"}, headers=holder.user.headers)
    assert needs_method.status_code == 422
    assert needs_method.json()["code"] == "payment_method_required"
    missing = api.put(
        url,
        json={"enabled": True, "amount": "minimum", "payment_method": "pm_nope"},
        headers=holder.user.headers,
    )
    assert missing.status_code == 422
    assert missing.json()["code"] == "resource_missing"
    bad_amount = api.put(
        url,
        json={"enabled": True, "amount": "everything", "payment_method": "pm_x"},
        headers=holder.user.headers,
    )
    assert bad_amount.status_code == 422
    assert api.get(f"/v1/accounts/{other.account_id}/autopay", headers=holder.user.headers).status_code == 404
    assert api.get(url, headers=holder.user.headers).json()["enabled"] is False

    pm = payment_method(stripe_client)
    saved = api.put(
        url,
        json={"enabled": True, "amount": "statement_balance", "payment_method": pm},
        headers=holder.user.headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["enabled"] is True
    assert saved.json()["amount"] == "statement_balance"
    assert saved.json()["payment_method"] == pm
    # Saved: attached to the holder's Stripe customer.
    assert stripe_client.v1.payment_methods.retrieve(pm).customer is not None
    assert api.get(url, headers=holder.user.headers).json() == saved.json()

    off = api.put(url, json={"enabled": False, "amount": "minimum"}, headers=holder.user.headers)
    assert off.status_code == 200
    assert off.json()["enabled"] is False


def test_run_autopay_pays_once_a_day_and_records_failures(
    api, session: Session, app, make_holder, stripe_client
):
    holder = make_holder(balance=6_000)
    url = f"/v1/accounts/{holder.account_id}/autopay"
    api.put(
        url,
        json={"enabled": True, "amount": "minimum", "payment_method": payment_method(stripe_client)},
        headers=holder.user.headers,
    )
    due_minus_two = app.state.clock.now() + timedelta(days=20)  # the day the daily job would pick
    paid = service.run_autopay(session, account_id=holder.account_id, amount=2_500, now=due_minus_two)
    session.commit()
    assert paid is not None
    assert paid.status == "succeeded"
    assert paid.initiated_by == "autopay"
    assert balance(session, holder.account_id) == 3_500
    # The daily job run twice the same day pays once.
    again = service.run_autopay(session, account_id=holder.account_id, amount=2_500, now=due_minus_two)
    session.commit()
    assert again is not None
    assert again.id == paid.id
    assert balance(session, holder.account_id) == 3_500

    # Next month: more than is owed is capped at the balance.
    later = due_minus_two + timedelta(days=30)
    capped = service.run_autopay(session, account_id=holder.account_id, amount=9_999, now=later)
    session.commit()
    assert capped is not None
    assert capped.amount == 3_500
    assert balance(session, holder.account_id) == 0
    # Nothing owed: nothing paid.
    assert (
        service.run_autopay(session, account_id=holder.account_id, amount=100, now=later + timedelta(days=30))
        is None
    )

    # A card that declines: a failed autopay, in the customer's payment history.
    declining = make_holder(balance=4_000)
    api.put(
        f"/v1/accounts/{declining.account_id}/autopay",
        json={
            "enabled": True,
            "amount": "minimum",
            "payment_method": payment_method(stripe_client, DECLINED_AT_CHARGE),
        },
        headers=declining.user.headers,
    )
    failed = service.run_autopay(session, account_id=declining.account_id, amount=1_000, now=due_minus_two)
    session.commit()
    assert failed is not None
    assert failed.status == "failed"
    assert failed.failure_code == "card_declined"
    history = api.get(f"/v1/accounts/{declining.account_id}/payments", headers=declining.user.headers).json()
    assert [(p["initiated_by"], p["status"], p["failure_code"]) for p in history["data"]] == [
        ("autopay", "failed", "card_declined")
    ]
    assert balance(session, declining.account_id) == 4_000

    # Autopay off: nothing, though 4,000 is owed.
    api.put(
        f"/v1/accounts/{declining.account_id}/autopay",
        json={"enabled": False, "amount": "minimum"},
        headers=declining.user.headers,
    )
    assert service.run_autopay(session, account_id=declining.account_id, amount=1_000, now=later) is None
    assert_balanced(session)
