from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    annual_income: Mapped[int]
    monthly_housing_payment: Mapped[int]
    employment_status: Mapped[str] = mapped_column(String(16))
    date_of_birth: Mapped[date]
    requested_credit_limit: Mapped[int | None]
    credit_score: Mapped[int]
    dti_bps: Mapped[int]
    credit_limit: Mapped[int | None]
    apr_bps: Mapped[int | None]
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(48)), server_default=text("'{}'"))
    account_id: Mapped[str | None] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_applications_user_created", "user_id", "created_at", "id"),
        # The data platform's daily extracts filter on this (migration 0006).
        Index("ix_applications_created", "created_at"),
        Index("ix_applications_decided", "decided_at", postgresql_where=text("decided_at is not null")),
        # One open application per customer at a time.
        Index(
            "uq_applications_open_per_user",
            "user_id",
            unique=True,
            postgresql_where=text("status = 'manual_review'"),
        ),
    )


class CreditLimitRequest(Base):
    """A cardholder's request for a higher limit on an open account, decided at once by the
    application's underwriting (12 CFR 1026.51(a): no limit increase without considering the
    consumer's ability to pay)."""

    __tablename__ = "credit_limit_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    requested_credit_limit: Mapped[int]
    previous_credit_limit: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    credit_limit: Mapped[int]
    reasons: Mapped[list[str]] = mapped_column(ARRAY(String(48)), server_default=text("'{}'"))
    credit_score: Mapped[int]
    dti_bps: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (Index("ix_credit_limit_requests_account_created", "account_id", "created_at", "id"),)
