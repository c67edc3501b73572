from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.billing.models import Statement
from api.network.schemas import TransactionOut


class MinimumPaymentWarningOut(BaseModel):
    minimum_only_months: int
    minimum_only_total: int
    pay_in_36_monthly: int | None
    pay_in_36_total: int | None


class StatementOut(BaseModel):
    id: str
    account_id: str
    currency: str
    period_start: date
    period_end: date
    opening_balance: int
    purchases: int
    refunds: int
    payments: int = Field(description="Payments received in the period.")
    returned_payments: int = Field(
        description="Payments Stripe took back in the period (refunded or disputed): a line of their own."
    )
    interest: int
    fees: int
    closing_balance: int = Field(
        description="opening_balance + purchases - refunds - payments + returned_payments + interest + fees"
    )
    past_due_amount: int = Field(description="Earlier minimums unpaid past their due dates, at the close.")
    minimum_payment: int = Field(
        description="This period's minimum plus past_due_amount: paid by due_date, the account is current."
    )
    due_date: date
    apr_bps: int
    days_in_period: int
    average_daily_balance: int
    grace_period_applied: bool
    interest_ytd: int
    fees_ytd: int
    late_fee_amount: int = Field(description="The late fee charged when this statement's minimum was missed.")
    minimum_payment_warning: MinimumPaymentWarningOut | None
    created_at: datetime

    @classmethod
    def of(cls, s: Statement) -> StatementOut:
        warning = None
        if s.minimum_only_months is not None and s.minimum_only_total is not None:
            warning = MinimumPaymentWarningOut(
                minimum_only_months=s.minimum_only_months,
                minimum_only_total=s.minimum_only_total,
                pay_in_36_monthly=s.pay_in_36_monthly,
                pay_in_36_total=s.pay_in_36_total,
            )
        return cls(
            id=s.id,
            account_id=s.account_id,
            currency=s.currency,
            period_start=s.period_start,
            period_end=s.period_end,
            opening_balance=s.opening_balance,
            purchases=s.purchases,
            refunds=s.refunds,
            payments=s.payments,
            returned_payments=s.returned_payments,
            interest=s.interest,
            fees=s.fees,
            closing_balance=s.closing_balance,
            past_due_amount=s.past_due_amount,
            minimum_payment=s.minimum_payment,
            due_date=s.due_date,
            apr_bps=s.apr_bps,
            days_in_period=s.days_in_period,
            average_daily_balance=s.average_daily_balance,
            grace_period_applied=s.grace_period_applied,
            interest_ytd=s.interest_ytd,
            fees_ytd=s.fees_ytd,
            late_fee_amount=s.late_fee_amount,
            minimum_payment_warning=warning,
            created_at=s.created_at,
        )


class StatementDetailOut(StatementOut):
    transactions: list[TransactionOut]


class ClockAdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: StrictInt | None = Field(None, description="Days to move forward, 1 to 400.")
    to: datetime | None = Field(None, description="The new time (RFC 3339), at most 400 days ahead.")


class BillingRunOut(BaseModel):
    day: date
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    already_run: bool


class ClockOut(BaseModel):
    now: datetime
    movable: bool


class ClockAdvanceOut(BaseModel):
    previous: datetime
    now: datetime
    runs: list[BillingRunOut]
