"""The payments domain's queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from api.ledger.models import LedgerTransfer
from api.payments.models import (
    AutopaySetting,
    Payment,
    PaymentException,
    PaymentPosting,
    StripeCustomer,
    StripeEvent,
)


def select_customer(session: Session, user_id: str) -> StripeCustomer | None:
    return session.get(StripeCustomer, user_id)


def payment_by_key(session: Session, user_id: str, idempotency_key: str) -> Payment | None:
    return session.execute(
        select(Payment).where(Payment.user_id == user_id, Payment.idempotency_key == idempotency_key)
    ).scalar_one_or_none()


def pending_payments_total(session: Session, account_id: str) -> int:
    """The payments of the account sent (or about to be sent) to Stripe and not yet posted."""
    total = session.execute(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.account_id == account_id, Payment.status == "pending"
        )
    ).scalar_one()
    return int(total)


def lock_payment(session: Session, payment_id: str) -> Payment | None:
    return session.execute(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def payment_id_for_intent(session: Session, intent_id: str) -> str | None:
    return session.execute(
        select(Payment.id).where(Payment.stripe_payment_intent_id == intent_id)
    ).scalar_one_or_none()


def payments_of_account(account_id: str) -> Select[Any]:
    return select(Payment).where(Payment.account_id == account_id)


def payments_created_between(session: Session, start: datetime, end: datetime) -> list[Payment]:
    return list(
        session.execute(select(Payment).where(Payment.created_at >= start, Payment.created_at < end))
        .scalars()
        .all()
    )


def payments_by_intent(session: Session, intent_ids: list[str]) -> dict[str, Payment]:
    if not intent_ids:
        return {}
    rows = session.execute(select(Payment).where(Payment.stripe_payment_intent_id.in_(intent_ids))).scalars()
    return {p.stripe_payment_intent_id: p for p in rows if p.stripe_payment_intent_id}


def claim_posting(
    session: Session, *, payment_id: str, kind: str, stripe_object_id: str, amount: int, now: datetime
) -> int | None:
    """Insert the posting's unique key; its id, or None when it was posted before.

    A concurrent transaction inserting the same key waits for this one and then
    finds the conflict: the database, not the caller, makes it once.
    """
    statement = (
        insert(PaymentPosting)
        .values(
            payment_id=payment_id, kind=kind, stripe_object_id=stripe_object_id, amount=amount, created_at=now
        )
        .on_conflict_do_nothing(index_elements=["stripe_object_id"])
        .returning(PaymentPosting.id)
    )
    posting_id: int | None = session.execute(statement).scalar_one_or_none()
    return posting_id


def posting_by_stripe_id(session: Session, stripe_object_id: str) -> PaymentPosting | None:
    return session.execute(
        select(PaymentPosting).where(PaymentPosting.stripe_object_id == stripe_object_id)
    ).scalar_one_or_none()


def ledger_transfer(session: Session, transfer_id: str) -> LedgerTransfer | None:
    return session.get(LedgerTransfer, transfer_id)


def store_event(
    session: Session,
    *,
    event_id: str,
    type_: str,
    object_id: str | None,
    stripe_created: datetime,
    payload: Any,
    request_id: str | None,
    now: datetime,
) -> bool:
    """Store an event by its id; False when it was stored before (or is being stored now)."""
    statement = (
        insert(StripeEvent)
        .values(
            id=event_id,
            type=type_,
            object_id=object_id,
            stripe_created=stripe_created,
            payload=payload,
            outcome="received",
            request_id=request_id,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def record_exception(session: Session, values: dict[str, Any]) -> bool:
    statement = (
        insert(PaymentException)
        .values(**values)
        .on_conflict_do_nothing(constraint="uq_payment_exceptions_day_stripe_kind")
        .returning(PaymentException.id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def exceptions_query() -> Select[Any]:
    return select(PaymentException)


def select_autopay(session: Session, account_id: str) -> AutopaySetting | None:
    return session.get(AutopaySetting, account_id)
