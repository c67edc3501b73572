from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    period: Literal["daily", "weekly", "monthly"]
    period_start: date
    format: str
    size_bytes: int
    sha256: str
    created_at: datetime
