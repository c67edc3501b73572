"""The in-process Stripe of ``--bulk`` worlds answers the refunds the daily job makes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import stripe

from simulator.stripe_standin import InProcessStripe


def test_a_succeeded_payment_can_be_refunded_and_a_failed_one_cannot() -> None:
    """The daily job returns credit balances that lasted six months through refunds
    (api.payments.credit_balances); in bulk mode they go to this stand-in."""
    fake = InProcessStripe(lambda: datetime(2033, 9, 10, 23, 59, tzinfo=UTC))
    customer = fake.v1.customers.create(params={"email": "a@example.com"})
    good = fake.v1.payment_methods.create(params={"type": "card", "card": {"number": "4242424242424242"}})
    fake.v1.payment_methods.attach(good.id, params={"customer": customer.id})
    intent = fake.v1.payment_intents.create(
        params={"amount": 6_000, "currency": "usd", "customer": customer.id, "payment_method": good.id}
    )
    fake.v1.payment_intents.confirm(intent.id)
    refund = fake.v1.refunds.create(params={"payment_intent": intent.id, "amount": 2_500})
    assert (refund.id[:3], refund.amount, refund.status) == ("re_", 2_500, "succeeded")
    assert refund.created == int(datetime(2033, 9, 10, 23, 59, tzinfo=UTC).timestamp())

    pending = fake.v1.payment_intents.create(
        params={"amount": 1_000, "currency": "usd", "customer": customer.id, "payment_method": good.id}
    )
    with pytest.raises(stripe.InvalidRequestError):
        fake.v1.refunds.create(params={"payment_intent": pending.id, "amount": 1_000})
