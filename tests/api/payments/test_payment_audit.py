"""Payment creation leaves one audit row, committed with the payment row; a replay adds none."""

from __future__ import annotations

from collections.abc import Callable

import stripe
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.payments.conftest import DECLINED_AT_ATTACH, Holder, count, payment_method


def test_payments_are_audited_once_each(
    api: TestClient, session: Session, make_holder: Callable[..., Holder], stripe_client: stripe.StripeClient
) -> None:
    holder = make_holder(balance=10_000)
    headers = holder.headers("pay-audit-1")
    body = {"amount": 2_500, "payment_method": payment_method(stripe_client)}
    first = api.post(f"/v1/accounts/{holder.account_id}/payments", headers=headers, json=body)
    assert first.status_code == 201, first.text
    replay = api.post(f"/v1/accounts/{holder.account_id}/payments", headers=headers, json=body)
    assert replay.json() == first.json()
    declined = api.post(
        f"/v1/accounts/{holder.account_id}/payments",
        headers=holder.headers(),
        json={"amount": 1_000, "payment_method": payment_method(stripe_client, DECLINED_AT_ATTACH)},
    )
    assert declined.json()["status"] == "failed", declined.text

    assert count(session, "select count(*) from audit_events where action = 'payment.created'") == 2
    assert (
        count(
            session,
            "select count(*) from audit_events where action = 'payment.created' and target = :id "
            "and actor_id = :user and request_id = :rid",
            id=first.json()["id"],
            user=holder.user.user_id,
            rid=first.headers["x-request-id"],
        )
        == 1
    )
