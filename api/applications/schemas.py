from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.applications.models import Application, CreditLimitRequest
from api.applications.underwriting import MIN_CREDIT_LIMIT, REASON_DESCRIPTIONS
from api.money import NonNegativeAmount, PositiveAmount


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    annual_income: NonNegativeAmount = Field(description="Cents per year, before tax.")
    monthly_housing_payment: NonNegativeAmount = Field(description="Rent or mortgage, cents per month.")
    employment_status: Literal["employed", "self_employed", "unemployed", "retired", "student"]
    # The pattern states the "after 1900" rule in the OpenAPI document too.
    date_of_birth: date = Field(
        description="YYYY-MM-DD", json_schema_extra={"pattern": r"^(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$"}
    )
    # Below the smallest line we offer ($300) no application could be approved: bad input.
    requested_credit_limit: Annotated[PositiveAmount, Field(ge=MIN_CREDIT_LIMIT)] | None = None

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _a_calendar_date(cls, value: object) -> object:
        # Not a number of seconds since 1970: pydantic would read 0 as 1970-01-01.
        if not isinstance(value, (str, date)):
            raise ValueError("date_of_birth must be a date, YYYY-MM-DD")
        return value

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

    @classmethod
    def each(cls, codes: list[str]) -> list[ReasonOut]:
        """Each reason code with its plain sentence (the adverse-action notice's wording)."""
        return [cls(code=code, description=REASON_DESCRIPTIONS.get(code, code)) for code in codes]


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

    @classmethod
    def of(cls, application: Application) -> ApplicationOut:
        return cls(
            id=application.id,
            status=application.status,
            credit_limit=application.credit_limit,
            apr_bps=application.apr_bps,
            reasons=list(application.reasons),
            reason_details=ReasonOut.each(application.reasons),
            account_id=application.account_id,
            credit_score=application.credit_score,
            debt_to_income_bps=application.dti_bps,
            requested_credit_limit=application.requested_credit_limit,
            created_at=application.created_at,
            decided_at=application.decided_at,
        )


class CreditLimitRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requested_credit_limit: PositiveAmount = Field(description="The limit asked for, in cents.")


class CreditLimitRequestOut(BaseModel):
    id: str
    account_id: str
    status: Literal["approved", "declined"]
    requested_credit_limit: int
    previous_credit_limit: int
    credit_limit: int = Field(description="The account's limit after the decision.")
    reasons: list[str] = Field(description="Reason codes of a decline, most important first.")
    reason_details: list[ReasonOut]
    created_at: datetime

    @classmethod
    def of(cls, request: CreditLimitRequest) -> CreditLimitRequestOut:
        return cls(
            id=request.id,
            account_id=request.account_id,
            status=request.status,
            requested_credit_limit=request.requested_credit_limit,
            previous_credit_limit=request.previous_credit_limit,
            credit_limit=request.credit_limit,
            reasons=list(request.reasons),
            reason_details=ReasonOut.each(list(request.reasons)),
            created_at=request.created_at,
        )
