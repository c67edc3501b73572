"""Stripe webhooks: verify, store by event id, then act on the object's current state.

Verification is ``stripe.Webhook.construct_event`` (HMAC-SHA256 over
``"<t>.<payload>"`` with the endpoint secret, at most 300 seconds old) plus
the check Stripe's library does not make: a timestamp more than 300 seconds
in the future is refused too. The window is measured on the wall clock, like
the signer's, not on the sandbox clock (which may have been moved forward).

Acting:
- ``payment_intent.succeeded`` / ``payment_intent.payment_failed``: the
  PaymentIntent is fetched from Stripe and its current state applied, so an
  event that arrives late or out of order cannot undo a later state.
- ``charge.refunded``: the charge's refunds are listed from Stripe; each
  refund re-debits the account once (keyed by the refund id), oldest first
  (``created``, then id), so the cap on what can be returned falls on the
  last refund made whatever order the list gives.
- ``charge.dispute.created``: the dispute re-debits the account once (keyed
  by the dispute id) and charges the returned-payment fee.
- anything else: stored and ignored.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.orm import Session

from api.errors import BadRequest
from api.payments import repository, service
from api.payments.models import StripeEvent

log = logging.getLogger("cardportal.payments.webhooks")

TOLERANCE_SECONDS = 300
HANDLED_TYPES = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.refunded",
        "charge.dispute.created",
    }
)


@dataclass(frozen=True)
class VerifiedEvent:
    id: str
    type: str
    created: int
    object: dict[str, Any]
    payload: dict[str, Any]


def _refuse(detail: str) -> BadRequest:
    return BadRequest(detail, code="invalid_webhook")


def verify(
    payload: bytes, signature: str | None, *, secret: str, wall_time: float | None = None
) -> VerifiedEvent:
    """The event, once its signature and timestamp are good; else 400 ``invalid_webhook``."""
    now = time.time() if wall_time is None else wall_time
    if not signature:
        raise _refuse("Missing Stripe-Signature header.")
    try:
        text_payload = payload.decode("utf-8")
        timestamp, _ = stripe.WebhookSignature._get_timestamp_and_signatures(signature, "v1")
    except (UnicodeDecodeError, ValueError, IndexError) as exc:
        raise _refuse("Malformed Stripe-Signature header or body.") from exc
    if timestamp > now + TOLERANCE_SECONDS:
        raise _refuse("The signature's timestamp is in the future.")
    try:
        event = stripe.Webhook.construct_event(text_payload, signature, secret, tolerance=TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as exc:
        raise _refuse(f"Signature verification failed: {exc.user_message or exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _refuse("The body is not a Stripe event.") from exc
    raw = json.loads(text_payload)
    if not isinstance(raw, dict):
        raise _refuse("The body is not a Stripe event.")
    event_id, event_type, created = raw.get("id"), raw.get("type"), raw.get("created")
    data = raw.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if (
        not isinstance(event_id, str)
        or not event_id
        or len(event_id) > 80
        or not isinstance(event_type, str)
        or not event_type
        or len(event_type) > 80
        or not isinstance(created, int)
        or isinstance(created, bool)
        or not isinstance(obj, dict)
    ):
        raise _refuse("The body is not a Stripe event (id, type, created, data.object).")
    assert event.id == event_id
    return VerifiedEvent(id=event_id, type=event_type, created=created, object=obj, payload=raw)


def receive(
    session: Session,
    *,
    event: VerifiedEvent,
    request_id: str | None,
    now: datetime,
    client: stripe.StripeClient,
) -> str:
    """Store the event, then act on it; the outcome (``duplicate`` when seen before)."""
    object_id = event.object.get("id")
    stored = repository.store_event(
        session,
        event_id=event.id,
        type_=event.type,
        object_id=object_id if isinstance(object_id, str) else None,
        stripe_created=datetime.fromtimestamp(event.created, UTC),
        payload=event.payload,
        request_id=request_id,
        now=now,
    )
    if not stored:
        return "duplicate"
    if event.type not in HANDLED_TYPES:
        outcome = "ignored"
    else:
        outcome = _act(session, event=event, now=now, client=client)
    row = session.get(StripeEvent, event.id)
    assert row is not None
    row.outcome = outcome
    session.flush()
    return outcome


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _apply_intent_by_id(
    session: Session, intent_id: str, *, client: stripe.StripeClient, now: datetime
) -> str:
    payment_id = repository.payment_id_for_intent(session, intent_id)
    if payment_id is None:
        return "unmatched"
    try:
        intent = client.v1.payment_intents.retrieve(intent_id)
    except stripe.InvalidRequestError:
        return "unmatched"
    changed = service.apply_intent(session, payment_id=payment_id, intent=intent, now=now)
    return "applied" if changed else "no_change"


def refund_order(refund: Any) -> tuple[int, str]:
    """The order in which a charge's refunds are applied: oldest first (``created``), then by id.

    Stripe lists refunds newest first, and among refunds of the same second in no order it
    promises (the emulator's varies). The cap on what can be returned (never more than the
    payment) must fall on the same refund whatever order a list gives: the last one made.
    """
    return (int(refund.created), str(refund.id))


def apply_refunds(session: Session, *, payment_id: str, refunds: list[Any], now: datetime) -> int:
    """Re-debit each succeeded refund of a payment once, in :func:`refund_order`; the amount moved."""
    moved = 0
    for refund in sorted(refunds, key=refund_order):
        if refund.status != "succeeded":
            continue
        moved += service.post_return(
            session,
            payment_id=payment_id,
            kind="refund",
            stripe_object_id=refund.id,
            amount=int(refund.amount),
            now=now,
        )
    return moved


def _act(session: Session, *, event: VerifiedEvent, now: datetime, client: stripe.StripeClient) -> str:
    obj = event.object
    if event.type.startswith("payment_intent."):
        intent_id = _str(obj.get("id"))
        if intent_id is None:
            return "unmatched"
        return _apply_intent_by_id(session, intent_id, client=client, now=now)

    if event.type == "charge.refunded":
        charge_id = _str(obj.get("id"))
        if charge_id is None:
            return "unmatched"
        try:
            charge = client.v1.charges.retrieve(charge_id)
        except stripe.InvalidRequestError:
            return "unmatched"
        intent_id = _str(charge.payment_intent if isinstance(charge.payment_intent, str) else None)
        if intent_id is None:
            return "unmatched"
        # First make sure the payment itself is posted (its success may not have reached us).
        first = _apply_intent_by_id(session, intent_id, client=client, now=now)
        if first == "unmatched":
            return first
        payment_id = repository.payment_id_for_intent(session, intent_id)
        assert payment_id is not None
        refunds = list(client.v1.refunds.list(params={"charge": charge_id, "limit": 100}).auto_paging_iter())
        moved = apply_refunds(session, payment_id=payment_id, refunds=refunds, now=now)
        return "applied" if moved or first == "applied" else "no_change"

    if event.type == "charge.dispute.created":
        dispute_id = _str(obj.get("id"))
        amount = obj.get("amount")
        if dispute_id is None or not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return "unmatched"
        intent_id = _str(obj.get("payment_intent"))
        charge_id = _str(obj.get("charge"))
        if intent_id is None and charge_id is not None:
            try:
                intent_id = _str(client.v1.charges.retrieve(charge_id).payment_intent)
            except stripe.InvalidRequestError:
                return "unmatched"
        if intent_id is None:
            return "unmatched"
        first = _apply_intent_by_id(session, intent_id, client=client, now=now)
        if first == "unmatched":
            return first
        payment_id = repository.payment_id_for_intent(session, intent_id)
        assert payment_id is not None
        moved = service.post_return(
            session,
            payment_id=payment_id,
            kind="dispute",
            stripe_object_id=dispute_id,
            amount=amount,
            now=now,
        )
        return "applied" if moved or first == "applied" else "no_change"
    return "ignored"
