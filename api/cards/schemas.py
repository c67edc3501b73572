from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class CardOut(BaseModel):
    """A card as it leaves the service: never the full number, never a CVV."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    account_id: str
    last4: str
    exp_month: int
    exp_year: int
    status: Literal["active", "frozen", "closed"]
    created_at: datetime
