from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.applications.underwriting import MIN_CREDIT_LIMIT
from api.money import NonNegativeAmount, PositiveAmount


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    annual_income: NonNegativeAmount = Field(description="Cents per year, before tax.")
    monthly_housing_payment: NonNegativeAmount = Field(description="Rent or mortgage, cents per month.")
    employment_status: Literal["employed", "self_employed", "unemployed", "retired", "student"]
    date_of_birth: date
    # Below the smallest line we offer ($300) no application could be approved: bad input.
    requested_credit_limit: Annotated[PositiveAmount, Field(ge=MIN_CREDIT_LIMIT)] | None = None

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth_date(cls, value: date) -> date:
        if value.year < 1900:
            raise ValueError("date_of_birth must be after 1900")
        return value


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approved", "declined"]
    credit_limit: PositiveAmount | None = None


class ReasonOut(BaseModel):
    code: str
    description: str


class ApplicationOut(BaseModel):
    id: str
    status: Literal["approved", "declined", "manual_review"]
    credit_limit: int | None
    apr_bps: int | None
    reasons: list[str]
    reason_details: list[ReasonOut]
    account_id: str | None
    credit_score: int
    debt_to_income_bps: int
    requested_credit_limit: int | None
    created_at: datetime
    decided_at: datetime | None
