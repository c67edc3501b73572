from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, CreatedAtMixin

ROLES = ("customer", "analyst", "finance", "admin")


class User(CreatedAtMixin, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Stored normalised (lower case, trimmed); unique case-insensitively by construction.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="customer")
    is_active: Mapped[bool] = mapped_column(default=True)
    # In every access token (claim ``ver``); bumped when the role or the status changes, so
    # that tokens already issued stop working at once (api.auth.versions).
    token_version: Mapped[int] = mapped_column(server_default=text("0"), default=0)

    __table_args__ = (Index("ix_users_created_at_id", "created_at", "id"),)


class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256; rotated on every use (RFC 9700)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins per normalised email, kept in PostgreSQL so a restart keeps a lock."""

    __tablename__ = "login_throttles"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    failed_count: Mapped[int] = mapped_column(default=0)
    first_failed_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


class TotpCredential(Base):
    """A user's TOTP second factor (RFC 6238; issue 21, finding 7): one per user.

    The secret is sealed with AES-256-GCM under a key derived from ``CARD_DATA_KEY`` and bound
    to the user's id (api/crypto.py). Pending until ``confirmed_at``; ``last_used_step`` is the
    time step of the last code accepted, so that no code is accepted twice.
    """

    __tablename__ = "totp_credentials"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    last_used_step: Mapped[int | None]
