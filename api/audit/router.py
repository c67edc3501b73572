"""The audit trail, read by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from api.audit import service as audit
from api.audit.models import AuditEvent
from api.audit.schemas import AuditEventOut
from api.deps import AdminPrincipal, OriginDep, SessionDep
from api.errors import problem_responses
from api.pagination import CursorParam, LimitParam, Page, paginate

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403, 422))


@router.get("/audit-events")
def list_audit_events(
    principal: AdminPrincipal,
    session: SessionDep,
    origin: OriginDep,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$")] = None,
    actor_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[AuditEventOut]:
    """Logins, failed logins, role changes, decisions, card freezes and controls, clock moves,
    payments and report downloads, newest first; filter by `action` and `actor_id`."""
    # Reading the trail is itself in the trail (PCI DSS 10.2.1.3), after the page is read.
    statement = select(AuditEvent)
    if action is not None:
        statement = statement.where(AuditEvent.action == action)
    if actor_id is not None:
        statement = statement.where(AuditEvent.actor_id == actor_id)
    rows, next_cursor = paginate(
        session, statement, created_at=AuditEvent.created_at, row_id=AuditEvent.id, limit=limit, cursor=cursor
    )
    audit.record(
        session,
        action=audit.AUDIT_READ,
        actor_id=principal.user_id,
        target="audit_events",
        origin=origin,
        detail={"action": action, "actor_id": actor_id, "limit": limit, "cursor": cursor is not None},
    )
    return Page[AuditEventOut](data=[AuditEventOut.model_validate(r) for r in rows], next_cursor=next_cursor)
