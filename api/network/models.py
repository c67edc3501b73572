from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base

# ``recovery`` / ``recovery_return``: a credit to a charged-off account booked against its loss,
# and that booking undone when Stripe takes the payment back (api.billing.recoveries).
TRANSACTION_TYPES = (
    "purchase",
    "refund",
    "payment",
    "interest",
    "fee",
    "reversal",
    "recovery",
    "recovery_return",
)
TRANSACTION_STATUSES = ("pending", "posted", "declined", "reversed")


class Transaction(Base):
    """What a cardholder sees on the account: every authorization, refund, payment, fee.

    A purchase starts as an authorization (id ``auth_…``): ``pending`` with a
    ledger hold, then ``posted`` when cleared or ``reversed`` when reversed or
    expired; a declined authorization is recorded as ``declined`` and holds
    nothing. ``amount`` is the cleared amount once posted, the held amount before.
    """

    __tablename__ = "transactions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    card_id: Mapped[str | None] = mapped_column(ForeignKey("cards.id"))
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int]
    authorized_amount: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3))
    merchant_name: Mapped[str | None] = mapped_column(String(200))
    merchant_mcc: Mapped[str | None] = mapped_column(String(4))
    merchant_country: Mapped[str | None] = mapped_column(String(2))
    decline_code: Mapped[str | None] = mapped_column(String(48))
    # Why a pending purchase ended without a clear: "reversed" or "expired".
    closed_reason: Mapped[str | None] = mapped_column(String(16))
    original_transaction_id: Mapped[str | None] = mapped_column(ForeignKey("transactions.id"))
    refunded_amount: Mapped[int] = mapped_column(server_default=text("0"))
    hold_transfer_id: Mapped[str | None] = mapped_column(String(32))
    posting_transfer_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    posted_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "type in ('purchase', 'refund', 'payment', 'interest', 'fee', 'reversal', 'recovery',"
            " 'recovery_return')",
            name="type_known",
        ),
        CheckConstraint("status in ('pending', 'posted', 'declined', 'reversed')", name="status_known"),
        # History pages: newest first per account, with the cursor's tie-breaker.
        Index("ix_transactions_account_created", "account_id", "created_at", "id"),
        # The data platform's daily extracts filter on this (migration 0006).
        Index("ix_transactions_created", "created_at"),
        # ... and finds the transactions whose hold resolved that day through this one.
        Index(
            "ix_transactions_posting_transfer",
            "posting_transfer_id",
            postgresql_where=text("posting_transfer_id is not null"),
        ),
        # The daily job's reads: an account's postings of some types over some days, and their sums
        # (migration 0008).
        Index(
            "ix_transactions_account_posted",
            "account_id",
            "type",
            "posted_at",
            postgresql_include=["amount"],
            postgresql_where=text("status = 'posted'"),
        ),
        # Spending controls' daily and monthly sums per card.
        Index("ix_transactions_card_created", "card_id", "created_at"),
        # Hold expiry scans only what is still pending.
        Index("ix_transactions_pending_created", "created_at", postgresql_where=text("status = 'pending'")),
        Index(
            "ix_transactions_original",
            "original_transaction_id",
            postgresql_where=text("original_transaction_id is not null"),
        ),
    )
