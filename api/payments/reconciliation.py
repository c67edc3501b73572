"""Daily reconciliation of Stripe's PaymentIntents with the payments table and the ledger.

Every mismatch is recorded in ``payment_exceptions`` for a person to look
at; nothing is repaired here. A rerun of the same day records nothing twice.

Stripe's list endpoint filters by ``created``, but the emulator (localstripe)
refuses the ``created`` and ``customer`` filters on PaymentIntents, so the
whole list is paged through and filtered here. Against Stripe, pass
``created[gte]``/``created[lt]`` instead when the account is large.

Kinds: ``missing_in_payments`` (a PaymentIntent we have no payment for),
``missing_in_ledger`` (succeeded at Stripe, no ledger posting),
``amount_differs`` (Stripe's amount against the payment's or the posting's),
``status_differs`` (Stripe's state against the payment's, or a posting for a
PaymentIntent that did not succeed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import stripe
from sqlalchemy.orm import Session
from stripe import RequestOptions

from api.ids import new_id
from api.payments import repository
from api.payments.gateway import default_client
from api.payments.models import Payment


@dataclass(frozen=True)
class Mismatch:
    stripe_id: str
    payment_id: str | None
    kind: str
    expected: str | None
    actual: str | None
    detail: str


@dataclass(frozen=True)
class ReconciliationResult:
    day: date
    intents_checked: int
    payments_checked: int
    mismatches: list[Mismatch]
    recorded: int


def _our_status(intent_status: str) -> str:
    if intent_status == "succeeded":
        return "succeeded"
    if intent_status in ("requires_payment_method", "canceled", "requires_action"):
        return "failed"
    return "pending"


def _compare(session: Session, intent: Any, payment: Payment | None) -> list[Mismatch]:
    found: list[Mismatch] = []
    intent_id = str(intent.id)
    status = str(intent.status)
    amount = int(intent.amount)
    if payment is None:
        return [
            Mismatch(
                intent_id,
                None,
                "missing_in_payments",
                status,
                None,
                f"Stripe has a {status} PaymentIntent of {amount} that no payment records",
            )
        ]
    expected_status = _our_status(status)
    if payment.status != expected_status:
        found.append(
            Mismatch(
                intent_id,
                payment.id,
                "status_differs",
                expected_status,
                payment.status,
                f"Stripe says {status}; the payment is {payment.status}",
            )
        )
    posting = repository.posting_by_stripe_id(session, intent_id)
    transfer = (
        repository.ledger_transfer(session, posting.ledger_transfer_id)
        if posting is not None and posting.ledger_transfer_id
        else None
    )
    if payment.amount != amount:
        found.append(
            Mismatch(
                intent_id,
                payment.id,
                "amount_differs",
                str(amount),
                str(payment.amount),
                "Stripe's amount against the payment's",
            )
        )
    elif transfer is not None and transfer.amount != amount:
        found.append(
            Mismatch(
                intent_id,
                payment.id,
                "amount_differs",
                str(amount),
                str(transfer.amount),
                "Stripe's amount against the ledger's",
            )
        )
    if status == "succeeded" and transfer is None:
        found.append(
            Mismatch(
                intent_id,
                payment.id,
                "missing_in_ledger",
                str(amount),
                None,
                "succeeded at Stripe, no ledger posting",
            )
        )
    if status != "succeeded" and posting is not None:
        found.append(
            Mismatch(
                intent_id,
                payment.id,
                "status_differs",
                expected_status,
                "posted",
                f"posted to the ledger, but Stripe says {status}",
            )
        )
    return found


def reconcile_payments(
    session: Session,
    *,
    day: date,
    now: datetime,
    client: stripe.StripeClient | None = None,
    max_network_retries: int | None = None,
) -> ReconciliationResult:
    """Compare the day's PaymentIntents (UTC) with our payments and ledger; record the mismatches.

    ``max_network_retries`` overrides the client's (the daily job passes 0: an outage is
    recorded and the day goes on, rather than waiting on back-offs)."""
    client = client or default_client()
    options: RequestOptions = {}
    if max_network_retries is not None:
        options["max_network_retries"] = max_network_retries
    start = datetime.combine(day, time(0), UTC)
    end = start + timedelta(days=1)
    lo, hi = int(start.timestamp()), int(end.timestamp())
    intents = {
        str(pi.id): pi
        for pi in client.v1.payment_intents.list(params={"limit": 100}, options=options).auto_paging_iter()
        if lo <= int(pi.created) < hi
    }
    by_intent = repository.payments_by_intent(session, list(intents))
    ours = repository.payments_created_between(session, start, end)
    mismatches: list[Mismatch] = []
    for intent_id, intent in intents.items():
        payment = by_intent.get(intent_id)
        if payment is None:
            metadata = intent.metadata.to_dict() if intent.metadata else {}
            metadata_id = metadata.get("cardportal_payment_id")
            payment = session.get(Payment, metadata_id) if metadata_id else None
        mismatches += _compare(session, intent, payment)
    # Our payments of the day whose PaymentIntent Stripe listed on another day (or never).
    for payment in ours:
        pi_id = payment.stripe_payment_intent_id
        if pi_id is None:
            if payment.status == "succeeded":
                mismatches.append(
                    Mismatch(
                        payment.id,
                        payment.id,
                        "status_differs",
                        "failed",
                        "succeeded",
                        "succeeded without a PaymentIntent",
                    )
                )
            continue
        if pi_id in intents:
            continue
        try:
            intent = client.v1.payment_intents.retrieve(pi_id, options=options)
        except stripe.InvalidRequestError:
            mismatches.append(
                Mismatch(
                    pi_id,
                    payment.id,
                    "status_differs",
                    "absent",
                    payment.status,
                    "Stripe has no such PaymentIntent",
                )
            )
            continue
        mismatches += _compare(session, intent, payment)
    recorded = 0
    for m in mismatches:
        recorded += repository.record_exception(
            session,
            {
                "id": new_id("pex"),
                "business_date": day,
                "payment_id": m.payment_id,
                "stripe_id": m.stripe_id,
                "kind": m.kind,
                "expected": m.expected,
                "actual": m.actual,
                "detail": m.detail,
                "created_at": now,
            },
        )
    session.flush()
    return ReconciliationResult(day, len(intents), len(ours), mismatches, recorded)
