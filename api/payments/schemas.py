from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.payments.models import CreditBalanceRefund, Payment, PaymentException

PaymentMethodId = Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Any integer is accepted here so that zero and negative amounts get the domain's 422 codes.
    amount: Annotated[StrictInt, Field(description="Minor units (cents), above zero.")]
    payment_method: PaymentMethodId = Field(description="A Stripe PaymentMethod id (pm_…).")


class PaymentOut(BaseModel):
    id: str
    account_id: str
    status: Literal["pending", "succeeded", "failed"]
    amount: int
    currency: str
    failure_code: str | None
    failure_message: str | None
    stripe_payment_intent_id: str | None
    payment_method: str | None
    returned_amount: int
    initiated_by: Literal["customer", "autopay"]
    user_id: str
    request_id: str | None
    created_at: datetime
    succeeded_at: datetime | None

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            id=payment.id,
            account_id=payment.account_id,
            status=payment.status,
            amount=payment.amount,
            currency=payment.currency,
            failure_code=payment.failure_code,
            failure_message=payment.failure_message,
            stripe_payment_intent_id=payment.stripe_payment_intent_id,
            payment_method=payment.stripe_payment_method_id,
            returned_amount=payment.returned_amount,
            initiated_by=payment.initiated_by,
            user_id=payment.user_id,
            request_id=payment.request_id,
            created_at=payment.created_at,
            succeeded_at=payment.succeeded_at,
        )


class AutopayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    amount: Literal["minimum", "statement_balance"] = "minimum"
    payment_method: PaymentMethodId | None = None


class AutopayOut(BaseModel):
    account_id: str
    enabled: bool
    amount: Literal["minimum", "statement_balance"]
    payment_method: str | None
    updated_at: datetime | None


class WebhookAck(BaseModel):
    received: bool
    id: str
    outcome: str


class PaymentExceptionOut(BaseModel):
    id: str
    payment_id: str | None
    stripe_id: str
    kind: str
    expected: str | None
    actual: str | None
    detail: str | None
    business_date: str
    created_at: datetime

    @classmethod
    def of(cls, row: PaymentException) -> PaymentExceptionOut:
        return cls(
            id=row.id,
            payment_id=row.payment_id,
            stripe_id=row.stripe_id,
            kind=row.kind,
            expected=row.expected,
            actual=row.actual,
            detail=row.detail,
            business_date=row.business_date.isoformat(),
            created_at=row.created_at,
        )


class StripeRefundOut(BaseModel):
    payment_id: str
    refund_id: str
    amount: int


class CreditBalanceRefundOut(BaseModel):
    """A credit balance returned (12 CFR 1026.11(a)): ``refunded_amount`` through Stripe refunds of
    the cardholder's payments; ``pending_amount`` awaits another method (``method``: a check)."""

    id: str
    account_id: str
    amount: int
    currency: str
    status: Literal["succeeded", "pending"]
    refunded_amount: int
    pending_amount: int
    method: str | None
    initiated_by: Literal["customer", "platform"]
    requested_by: str | None
    stripe_refunds: list[StripeRefundOut]
    created_at: datetime

    @classmethod
    def of(cls, row: CreditBalanceRefund) -> CreditBalanceRefundOut:
        return cls(
            id=row.id,
            account_id=row.account_id,
            amount=row.amount,
            currency=row.currency,
            status=row.status,
            refunded_amount=row.refunded_amount,
            pending_amount=row.pending_amount,
            method=row.method,
            initiated_by=row.initiated_by,
            requested_by=row.requested_by,
            stripe_refunds=[StripeRefundOut(**r) for r in row.stripe_refunds],
            created_at=row.created_at,
        )
