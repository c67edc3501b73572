"""The audit trail: one row per security-relevant action, never changed or removed.

Append-only is enforced by PostgreSQL itself (a trigger refuses UPDATE and
DELETE, see migration 0005), not only by this code never issuing them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The user who acted (``usr_…``), ``network``/``system``, or null for an anonymous caller.
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    # What the action was done to: an id (``card_…``), or ``email:<address>`` for a failed login.
    target: Mapped[str | None] = mapped_column(String(340))
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # Wall time (Clock.wall_now): when it really happened, whatever the sandbox clock says.
    created_at: Mapped[datetime]
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_audit_events_created", "created_at", "id"),
        Index("ix_audit_events_action_created", "action", "created_at", "id"),
        Index("ix_audit_events_actor_created", "actor_id", "created_at", "id"),
    )
