from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base

ACCOUNT_STATUSES = ("active", "closed")


class Account(Base):
    """A card account: its limit, APR and billing cycle. Balances live in the ledger."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    application_id: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    credit_limit: Mapped[int]
    apr_bps: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    billing_cycle_day: Mapped[int]
    opened_at: Mapped[datetime] = mapped_column(server_default=func.now())
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("credit_limit >= 0", name="credit_limit_not_negative"),
        CheckConstraint("apr_bps between 0 and 10000", name="apr_bps_range"),
        CheckConstraint("billing_cycle_day between 1 and 28", name="cycle_day_range"),
        CheckConstraint("status in ('active', 'closed')", name="status_known"),
        Index("ix_accounts_user_id_created_at", "user_id", "created_at", "id"),
        # The data platform's daily extracts filter on this (migration 0006).
        Index("ix_accounts_created", "created_at"),
        Index("ix_accounts_closed", "closed_at", postgresql_where=text("closed_at is not null")),
    )


@dataclass(frozen=True)
class AccountSummary:
    """An account as its owner sees it: its terms, its balances from the ledger and what is due
    from billing (``api.accounts.service.account_summaries``; ``AccountOut.of`` shows it)."""

    id: str
    status: str
    credit_limit: int
    current_balance: int
    pending_amount: int
    available_credit: int
    apr_bps: int
    currency: str
    billing_cycle_day: int
    opened_at: datetime
    statement_balance: int | None
    next_due_date: date | None
    minimum_payment_due: int
    past_due_amount: int
    days_past_due: int
    delinquency_bucket: str
