"""Billing tables: statements, each account's delinquency (now and day by day), and the daily job's
runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base

DELINQUENCY_BUCKETS = ("current", "1-29", "30-59", "60-89", "90+")


class Statement(Base):
    """One closed billing cycle of an account, with every figure the customer is shown.

    ``closing_balance = opening_balance + purchases - refunds - payments + returned_payments
    + interest + fees`` (a check constraint keeps it so). ``payments`` are the payments received
    in the period; ``returned_payments`` the payments (of this or an earlier period) that Stripe
    took back in it, on a line of their own.
    """

    __tablename__ = "statements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    opening_balance: Mapped[int]
    purchases: Mapped[int]
    refunds: Mapped[int]
    payments: Mapped[int]
    returned_payments: Mapped[int] = mapped_column(server_default=text("0"))
    interest: Mapped[int]
    fees: Mapped[int]
    closing_balance: Mapped[int]
    # Includes ``past_due_amount``: paying it by the due date makes the account current.
    minimum_payment: Mapped[int]
    # The minimums of earlier statements still unpaid, past their due dates, at the close.
    past_due_amount: Mapped[int] = mapped_column(server_default=text("0"))
    apr_bps: Mapped[int]
    credit_limit: Mapped[int]
    days_in_period: Mapped[int]
    # The interest charge calculation: average daily balance and the days it covers.
    average_daily_balance: Mapped[int]
    grace_period_applied: Mapped[bool]
    interest_ytd: Mapped[int]
    fees_ytd: Mapped[int]
    # The minimum-payment warning (12 CFR 1026.7(b)(12)); null when nothing is owed.
    minimum_only_months: Mapped[int | None]
    minimum_only_total: Mapped[int | None]
    pay_in_36_monthly: Mapped[int | None]
    pay_in_36_total: Mapped[int | None]
    # Set once, when the minimum was missed at the due date and a late fee was charged.
    late_fee_transaction_id: Mapped[str | None] = mapped_column(String(32))
    late_fee_amount: Mapped[int] = mapped_column(server_default=text("0"))
    # The due date passed while a payment made by then was still pending at Stripe: the late
    # fee is decided when it settles (12 CFR 1026.10(a)).
    late_fee_deferred: Mapped[bool] = mapped_column(server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        UniqueConstraint("account_id", "period_end", name="uq_statements_account_period_end"),
        CheckConstraint(
            "closing_balance = opening_balance + purchases - refunds - payments + returned_payments"
            " + interest + fees",
            name="identity",
        ),
        CheckConstraint("due_date > period_end and period_end >= period_start", name="dates_ordered"),
        Index("ix_statements_account_created", "account_id", "created_at", "id"),
        Index("ix_statements_due_date", "due_date"),
        # The data platform's daily extracts filter on this (migration 0006).
        Index("ix_statements_created", "created_at"),
        Index("ix_statements_late_fee_deferred", "account_id", postgresql_where=text("late_fee_deferred")),
    )


class AccountBilling(Base):
    """Each account's delinquency as of the last day the daily job ran for it."""

    __tablename__ = "account_billing"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    as_of: Mapped[date] = mapped_column(Date)
    days_past_due: Mapped[int] = mapped_column(server_default=text("0"))
    delinquency_bucket: Mapped[str] = mapped_column(String(8), server_default=text("'current'"))
    past_due_amount: Mapped[int] = mapped_column(server_default=text("0"))
    charged_off_on: Mapped[date | None] = mapped_column(Date)
    charged_off_amount: Mapped[int | None]
    charge_off_transfer_id: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        CheckConstraint(
            "delinquency_bucket in ('current', '1-29', '30-59', '60-89', '90+')", name="bucket_known"
        ),
        Index("ix_account_billing_delinquent", "account_id", postgresql_where=text("days_past_due > 0")),
    )


class DelinquencyDay(Base):
    """An account's delinquency at the end of one business day, as the daily job computed it
    (``api.billing.service.delinquency_on``, or a day's aging in ``carry_unchanged_delinquencies``)
    and wrote it to ``account_billing`` in the same transaction.

    Only delinquent accounts have a row (``days_past_due > 0``): on a day whose run recorded
    delinquency (``BillingRun.delinquency_recorded``), an account without one was current. The
    warehouse reads this record (``raw.delinquency_days``) instead of deriving delinquency again.
    A day's charge-off is recorded as the job saw it before writing the account off (180 days).
    """

    __tablename__ = "delinquency_days"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    days_past_due: Mapped[int]
    # The unmet minimums past their due dates at the day's end (cents).
    past_due_amount: Mapped[int]
    bucket: Mapped[str] = mapped_column(String(8))

    __table_args__ = (
        CheckConstraint("days_past_due > 0", name="delinquent_only"),
        CheckConstraint("bucket in ('1-29', '30-59', '60-89', '90+')", name="bucket_known"),
        # The data platform extracts a day's rows (pipelines/extract.py).
        Index("ix_delinquency_days_day", "day"),
    )


class BillingRun(Base):
    """One run of the daily job for one business day (its counts say what it did).

    ``delinquency_recorded``: the run wrote each delinquent account's state to
    ``delinquency_days`` (every run since migration 0016; the runs before it did not, except the
    last, whose day 0016 filled in from ``account_billing``)."""

    __tablename__ = "billing_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    delinquency_recorded: Mapped[bool] = mapped_column(server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class BillingFailure(Base):
    """An account whose daily-job step failed on ``day``. The next run retries it (oldest day
    first) before any later day of that account; ``resolved_at`` is set when a retry succeeds."""

    __tablename__ = "billing_failures"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(server_default=text("1"))
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_billing_failures_unresolved",
            "day",
            "account_id",
            postgresql_where=text("resolved_at is null"),
        ),
    )
