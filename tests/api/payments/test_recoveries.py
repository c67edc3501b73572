"""Recoveries after charge-off: payments and merchant refunds to a written-off account.

The source: the FFIEC Call Report, Schedule RI-B Part I ("Charge-offs and Recoveries on
Loans and Leases"): "In column A report loans and leases charged off [...]. In column B
report amounts recovered [...] on loans and leases previously charged off"; net charge-offs
are column A less column B. A charged-off cardholder still owes the debt: what they pay (or
a merchant refunds) afterwards, up to what was written off, is a recovery, booked apart from
the loss (api.billing.recoveries), and never a credit balance or an "overpayment".
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.billing.models import AccountBilling
from api.ledger import service as ledger
from api.ledger.models import LedgerAccount
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

# Every signed amount in a history, as it moves what is owed.
SIGN = {
    "purchase": 1,
    "interest": 1,
    "fee": 1,
    "reversal": 1,
    "recovery": 1,
    "refund": -1,
    "payment": -1,
    "charge_off": -1,
    "recovery_return": -1,
}


@pytest.fixture
def charged_off(api: TestClient, app: FastAPI, session: Session, make_holder: Any) -> tuple[Holder, int]:
    """A holder who bought 400.00, never paid, and was charged off 180 days past due."""
    move_clock_to(app, at(2032, 2, 1))
    holder = make_holder(balance=400_00, credit_limit=1_000_00)
    admin = user_with_role(api, session, "admin")
    moved = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 265})
    assert moved.status_code == 200, moved.text
    session.expire_all()
    state = session.get_one(AccountBilling, holder.account_id)
    assert state.charged_off_on is not None
    assert state.charged_off_amount is not None
    assert state.charged_off_amount > 400_00
    assert balance(session, holder.account_id) == 0
    return holder, state.charged_off_amount


def _house(session: Session, kind: ledger.House, account_id: str) -> int:
    session.expire_all()
    row = session.get(LedgerAccount, ledger.house(kind, account_id))
    return 0 if row is None else row.posted_balance


def _history(api: TestClient, holder: Holder) -> list[dict[str, Any]]:
    r = api.get(f"/v1/accounts/{holder.account_id}/transactions?limit=200", headers=holder.user.headers)
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def _pay(api: TestClient, holder: Holder, stripe_client: Any, amount: int) -> Any:
    return api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        json={"amount": amount, "payment_method": payment_method(stripe_client)},
        headers=holder.headers(),
    )


def test_a_payment_after_charge_off_is_a_recovery(
    api: TestClient, session: Session, charged_off: tuple[Holder, int], stripe_client: Any
) -> None:
    holder, written_off = charged_off
    # Before: refused as an overpayment (422, max_amount 0), as the balance on the books is 0.
    paid = _pay(api, holder, stripe_client, 150_00)
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"

    # The books: nothing owed on the account, the loss stays gross, the recovery apart.
    assert balance(session, holder.account_id) == 0
    assert _house(session, ledger.House.CHARGE_OFF_LOSS, holder.account_id) == written_off
    assert _house(session, ledger.House.CHARGE_OFF_RECOVERY, holder.account_id) == -150_00
    # Net charge-off (column A less column B).
    net = _house(session, ledger.House.CHARGE_OFF_LOSS, holder.account_id) + _house(
        session, ledger.House.CHARGE_OFF_RECOVERY, holder.account_id
    )
    assert net == written_off - 150_00

    # The history shows the payment, and the recovery that explains the zero balance.
    history = _history(api, holder)
    assert [e["amount"] for e in history if e["type"] == "payment"] == [150_00]
    assert [e["amount"] for e in history if e["type"] == "recovery"] == [150_00]
    assert sum(SIGN[e["type"]] * e["amount"] for e in history if e["status"] == "posted") == 0

    # At most what was written off and not recovered yet: one cent more is an overpayment.
    left = written_off - 150_00
    too_much = _pay(api, holder, stripe_client, left + 1)
    assert too_much.status_code == 422, too_much.text
    assert too_much.json()["code"] == "overpayment"
    assert too_much.json()["max_amount"] == left
    assert _pay(api, holder, stripe_client, left).json()["status"] == "succeeded"
    assert _house(session, ledger.House.CHARGE_OFF_RECOVERY, holder.account_id) == -written_off
    assert balance(session, holder.account_id) == 0
    assert _pay(api, holder, stripe_client, 1).json()["code"] == "overpayment"
    assert_balanced(session)


def test_a_merchant_refund_after_charge_off_is_a_recovery(
    api: TestClient, session: Session, charged_off: tuple[Holder, int]
) -> None:
    holder, written_off = charged_off
    merchant = {"name": "Grocer", "mcc": "5411", "country": "US"}
    r = api.post(
        "/v1/network/refunds",
        headers=NETWORK_HEADERS,
        json={"card_id": holder.card_id, "amount": 60_00, "currency": "USD", "merchant": merchant},
    )
    assert r.status_code == 200, r.text
    # Before: the refund built a 60.00 credit balance (current_balance -6000) on a written-off debt.
    assert balance(session, holder.account_id) == 0
    assert _house(session, ledger.House.CHARGE_OFF_RECOVERY, holder.account_id) == -60_00
    assert _house(session, ledger.House.CHARGE_OFF_LOSS, holder.account_id) == written_off
    history = _history(api, holder)
    assert [e["amount"] for e in history if e["type"] == "refund"] == [60_00]
    [recovery] = [e for e in history if e["type"] == "recovery"]
    assert recovery["amount"] == 60_00
    assert recovery["original_transaction_id"] == r.json()["id"]
    assert sum(SIGN[e["type"]] * e["amount"] for e in history if e["status"] == "posted") == 0
    assert_balanced(session)


def test_a_recovered_payment_taken_back_undoes_its_recovery(
    api: TestClient, session: Session, charged_off: tuple[Holder, int], stripe_client: Any, send_event: Any
) -> None:
    holder, _ = charged_off
    paid = _pay(api, holder, stripe_client, 100_00).json()
    intent = paid["stripe_payment_intent_id"]
    stripe_client.v1.refunds.create(params={"payment_intent": intent, "amount": 40_00})
    charge = stripe_client.v1.charges.retrieve(
        stripe_client.v1.payment_intents.retrieve(intent).latest_charge.id
    ).to_dict()
    assert send_event(event_body("charge.refunded", charge)).json()["outcome"] == "applied"
    # 100.00 recovered, 40.00 of it returned to the payer: 60.00 recovered, nothing owed on the books.
    assert balance(session, holder.account_id) == 0
    assert _house(session, ledger.House.CHARGE_OFF_RECOVERY, holder.account_id) == -60_00
    dispute = {
        "id": f"dp_recovery_{time.time_ns()}",
        "object": "dispute",
        "amount": 60_00,
        "payment_intent": intent,
        "created": int(time.time()),
    }
    assert send_event(event_body("charge.dispute.created", dispute)).json()["outcome"] == "applied"
    assert balance(session, holder.account_id) == 0
    assert _house(session, ledger.House.CHARGE_OFF_RECOVERY, holder.account_id) == 0
    # No returned-payment fee on a written-off account.
    assert (
        count(
            session, "select count(*) from transactions where type = 'fee' and merchant_name like 'Returned%'"
        )
        == 0
    )
    history = _history(api, holder)
    assert sorted(e["amount"] for e in history if e["type"] == "recovery_return") == [40_00, 60_00]
    assert sum(SIGN[e["type"]] * e["amount"] for e in history if e["status"] == "posted") == 0
    assert_balanced(session)
