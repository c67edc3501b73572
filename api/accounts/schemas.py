from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from api.accounts.models import AccountSummary


class AccountOut(BaseModel):
    id: str
    status: Literal["active", "closed"]
    credit_limit: int
    current_balance: int
    pending_amount: int
    available_credit: int
    apr_bps: int
    currency: str
    billing_cycle_day: int
    opened_at: datetime
    # Billing (additive): the last statement, what is due, and how late.
    statement_balance: int | None = None
    next_due_date: date | None = None
    minimum_payment_due: int = 0
    past_due_amount: int = 0
    days_past_due: int = 0
    delinquency_bucket: Literal["current", "1-29", "30-59", "60-89", "90+"] = "current"

    @classmethod
    def of(cls, summary: AccountSummary) -> AccountOut:
        return cls.model_validate(summary, from_attributes=True)
