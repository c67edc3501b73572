"""Ledger tables: accounts with their balances, transfers, and entries.

Every transfer moves one amount from a debit account to a credit account
(as TigerBeetle's transfers do) and is recorded as balanced entries, signed
debit-positive, in one of two layers: ``pending`` (holds) and ``posted``.
Balances on ``ledger_accounts`` are updated in the same statement that
writes the entries, so they always equal the sums of the entries.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Identity, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    # The account's code is its id: "acct_…:receivable", "house:network_settlement:07".
    # Deterministic ids let a transfer name house accounts without a look-up.
    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    # Debit-positive sums of the entries in each layer.
    posted_balance: Mapped[int] = mapped_column(server_default=text("0"))
    pending_balance: Mapped[int] = mapped_column(server_default=text("0"))
    # Cumulative posted debits and credits (both >= 0), for the trial balance.
    posted_debits: Mapped[int] = mapped_column(server_default=text("0"))
    posted_credits: Mapped[int] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    # The data platform's daily extracts filter on this (migration 0006).
    __table_args__ = (Index("ix_ledger_accounts_created", "created_at"),)


class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    # posted: final. pending: a hold. A pending transfer becomes posted or voided
    # exactly once, by a later transfer that names it in pending_id.
    state: Mapped[str] = mapped_column(String(8))
    # The foreign keys' columns have no index of their own: nothing queries by them, and each
    # index costs every transfer a B-tree insertion (migration 0019).
    debit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    pending_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_transfers.id"))
    reference: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("state in ('posted', 'pending', 'voided')", name="state_known"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        # Nothing resolves a pending transfer twice: enforced by the database itself.
        Index(
            "uq_ledger_transfers_pending_id",
            "pending_id",
            unique=True,
            postgresql_where=text("pending_id is not null"),
        ),
        Index("ix_ledger_transfers_reference", "reference"),
        # The data platform's daily extracts filter on this (migration 0006).
        Index("ix_ledger_transfers_created", "created_at"),
    )


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"))
    ledger_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    # Debit-positive, credit-negative.
    amount: Mapped[int]
    layer: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("layer in ('pending', 'posted')", name="layer_known"),
        Index("ix_ledger_entries_account_id", "ledger_account_id", "id"),
        # The data platform's daily extracts filter on this (migration 0006).
        Index("ix_ledger_entries_created", "created_at"),
    )
