from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from api.billing import rules
from api.billing.models import Statement
from api.network.schemas import TransactionOut
from cardportal.settings import SANDBOX_CREDIT_COUNSELING_PHONE


class MinimumPaymentWarningOut(BaseModel):
    """The minimum payment warning (12 CFR 1026.7(b)(12), Appendix M1, model forms G-18(C)).

    The first four fields are the exact estimates (cents, months); the ``disclosed_*`` ones
    and ``savings`` are the figures the statement prints, rounded as 1026.7(b)(12) says
    (``api.billing.rules.disclose_warning``).
    """

    minimum_only_months: int | None = Field(
        description="Months to repay paying only the minimum; null when the minimum never repays."
    )
    minimum_only_total: int | None = Field(description="Total paid at the minimum, in cents, exact.")
    pay_in_36_monthly: int | None
    pay_in_36_total: int | None
    kind: Literal["over_3_years", "3_years_or_less", "negative_amortization"] = Field(
        description="The model form: G-18(C)(1), G-18(C)(2) or G-18(C)(3)."
    )
    repayment_period: str = Field(
        description='As printed: months under 2 years ("11 months"), else whole years ("10 years").'
    )
    repayment_period_months: int | None
    repayment_period_years: int | None
    disclosed_minimum_only_total: int | None = Field(description="In cents, rounded to the whole dollar.")
    disclosed_pay_in_36_monthly: int | None = Field(
        description="In cents, rounded to the whole dollar; null when the minimum repays in 3 years or less."
    )
    disclosed_pay_in_36_total: int | None
    savings: int | None = Field(description="disclosed_minimum_only_total - disclosed_pay_in_36_total.")
    credit_counseling_phone: str = Field(description="Toll-free number for credit counseling information.")

    @classmethod
    def of(cls, s: Statement, *, credit_counseling_phone: str) -> MinimumPaymentWarningOut | None:
        disclosure = rules.disclose_warning(
            minimum_only_months=s.minimum_only_months,
            minimum_only_total=s.minimum_only_total,
            pay_in_36_monthly=s.pay_in_36_monthly,
            pay_in_36_total=s.pay_in_36_total,
        )
        if disclosure is None:
            return None
        return cls(
            minimum_only_months=s.minimum_only_months,
            minimum_only_total=s.minimum_only_total,
            pay_in_36_monthly=s.pay_in_36_monthly,
            pay_in_36_total=s.pay_in_36_total,
            kind=disclosure.kind,
            repayment_period=disclosure.repayment_period,
            repayment_period_months=disclosure.repayment_period_months,
            repayment_period_years=disclosure.repayment_period_years,
            disclosed_minimum_only_total=disclosure.minimum_only_total,
            disclosed_pay_in_36_monthly=disclosure.pay_in_36_monthly,
            disclosed_pay_in_36_total=disclosure.pay_in_36_total,
            savings=disclosure.savings,
            credit_counseling_phone=credit_counseling_phone,
        )


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
    def of(
        cls, s: Statement, *, credit_counseling_phone: str = SANDBOX_CREDIT_COUNSELING_PHONE
    ) -> StatementOut:
        warning = MinimumPaymentWarningOut.of(s, credit_counseling_phone=credit_counseling_phone)
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
