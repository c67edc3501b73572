from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


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
