"""Payments through Stripe: customers, payments, their ledger postings, events, exceptions, autopay.

Exactly-once is held by the database, not only by the code that checks first:

- ``payment_postings.stripe_object_id`` is unique: a PaymentIntent (``pi_…``)
  is credited to the ledger at most once, each refund (``re_…``) and dispute
  (``dp_…``) re-debited at most once, and one returned-payment fee is charged
  per payment (``fee:<payment id>``).
- ``stripe_events.id`` is the event's own id: a redelivered event is seen.
- ``payments (user_id, idempotency_key)`` is unique: one request, one payment.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base

PAYMENT_STATUSES = ("pending", "succeeded", "failed")
POSTING_KINDS = ("payment", "refund", "dispute", "return_fee")
EXCEPTION_KINDS = ("missing_in_ledger", "missing_in_payments", "amount_differs", "status_differs")
AUTOPAY_AMOUNTS = ("minimum", "statement_balance")


class StripeCustomer(Base):
    """The Stripe Customer of one of our users, created once."""

    __tablename__ = "stripe_customers"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    stripe_customer_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Payment(Base):
    """A payment towards a card account, and who made it (user, request, or autopay)."""

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    # The user who paid (the account's owner, or an admin acting for them).
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    initiated_by: Mapped[str] = mapped_column(String(16))  # "customer" | "autopay"
    request_id: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(500))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Re-debited after a refund or a dispute (never more than ``amount``).
    returned_amount: Mapped[int] = mapped_column(server_default=text("0"))
    transaction_id: Mapped[str | None] = mapped_column(ForeignKey("transactions.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    succeeded_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("returned_amount between 0 and amount", name="returned_within_amount"),
        CheckConstraint("status in ('pending', 'succeeded', 'failed')", name="status_known"),
        CheckConstraint("initiated_by in ('customer', 'autopay')", name="initiated_by_known"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_payments_user_id_idempotency_key"),
        Index("ix_payments_account_created", "account_id", "created_at", "id"),
        Index("ix_payments_created", "created_at"),
        # The data platform's daily extracts filter on this (payments touched that day) (migration 0006).
        Index("ix_payments_updated", "updated_at"),
    )


class PaymentPosting(Base):
    """One ledger movement caused by Stripe, keyed by the Stripe object that caused it."""

    __tablename__ = "payment_postings"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # pi_… for the payment itself, re_… for a refund, dp_… for a dispute, fee:pay_… for the fee.
    stripe_object_id: Mapped[str] = mapped_column(String(80), unique=True)
    amount: Mapped[int]
    ledger_transfer_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("kind in ('payment', 'refund', 'dispute', 'return_fee')", name="kind_known"),
    )


class StripeEvent(Base):
    """Every verified webhook event, stored by its id before it is acted on."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    type: Mapped[str] = mapped_column(String(80))
    object_id: Mapped[str | None] = mapped_column(String(80), index=True)
    stripe_created: Mapped[datetime]
    payload: Mapped[Any] = mapped_column(JSON)
    # What acting on it did: applied, no_change, ignored (unknown type), unmatched (not ours).
    outcome: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PaymentException(Base):
    """A mismatch found by reconciliation between Stripe, the payments table and the ledger."""

    __tablename__ = "payment_exceptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    business_date: Mapped[date]
    payment_id: Mapped[str | None] = mapped_column(String(32))
    stripe_id: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(24))
    expected: Mapped[str | None] = mapped_column(String(64))
    actual: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint(
            "kind in ('missing_in_ledger', 'missing_in_payments', 'amount_differs', 'status_differs')",
            name="kind_known",
        ),
        # A rerun of the same day records nothing twice.
        UniqueConstraint("business_date", "stripe_id", "kind", name="uq_payment_exceptions_day_stripe_kind"),
        Index("ix_payment_exceptions_created", "created_at", "id"),
    )


class AutopaySetting(Base):
    """An account's autopay: on or off, which amount, and the saved PaymentMethod."""

    __tablename__ = "autopay_settings"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    enabled: Mapped[bool]
    amount: Mapped[str] = mapped_column(String(24))
    payment_method: Mapped[str | None] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("amount in ('minimum', 'statement_balance')", name="amount_known"),
        CheckConstraint("not enabled or payment_method is not null", name="enabled_needs_method"),
    )


CREDIT_BALANCE_REFUND_STATUSES = ("succeeded", "pending")


class CreditBalanceRefund(Base):
    """A credit balance returned to the cardholder (12 CFR 1026.11(a)): on request, or by the
    platform after six months.

    ``refunded_amount`` went back through Stripe refunds of the cardholder's own payments
    (``stripe_refunds``: ``[{payment_id, refund_id, amount}]``, each also a ``refund`` posting);
    ``pending_amount`` had no payment left to refund and awaits another method (a check,
    ``method``), shown to admins; it stays on the account, reserved, until it is paid.
    """

    __tablename__ = "credit_balance_refunds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    # Who asked (the cardholder, or an admin for them); None when the platform did (after 6 months).
    requested_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    initiated_by: Mapped[str] = mapped_column(String(16))  # "customer" | "platform"
    request_id: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[int]
    refunded_amount: Mapped[int]
    pending_amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    # How the pending part is to be paid: "check" (no payment of the cardholder's left to refund).
    method: Mapped[str | None] = mapped_column(String(16))
    stripe_refunds: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded_amount >= 0 and pending_amount >= 0", name="parts_not_negative"),
        CheckConstraint("refunded_amount + pending_amount = amount", name="parts_add_up"),
        CheckConstraint("status in ('succeeded', 'pending')", name="status_known"),
        CheckConstraint("initiated_by in ('customer', 'platform')", name="initiated_by_known"),
        Index("ix_credit_balance_refunds_account_created", "account_id", "created_at", "id"),
        Index("ix_credit_balance_refunds_created", "created_at", "id"),
        Index(
            "ix_credit_balance_refunds_pending",
            "account_id",
            postgresql_where=text("status = 'pending'"),
        ),
    )
