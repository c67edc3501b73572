from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class Card(Base):
    """A card. The number is stored only encrypted (AES-GCM) with a keyed hash for look-ups;
    only ``last4`` and the expiry ever leave the service. No CVV is stored."""

    __tablename__ = "cards"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    pan_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    pan_lookup_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(SmallInteger)
    exp_year: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Who froze it (a user id and that user's role then): staff's freeze is lifted by staff only.
    frozen_by: Mapped[str | None] = mapped_column(String(32))
    frozen_by_role: Mapped[str | None] = mapped_column(String(16))
    controls: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("status in ('active', 'frozen', 'closed')", name="status_known"),
        # The data platform's daily extracts filter on this (migration 0006).
        Index("ix_cards_created", "created_at"),
    )
