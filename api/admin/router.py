from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from api.audit import service as audit
from api.auth import mfa
from api.auth import service as auth_service
from api.auth.models import User
from api.auth.schemas import RoleIn, UserOut
from api.deps import AdminPrincipal, OriginDep, SessionDep
from api.errors import problem_responses
from api.ids import PathId
from api.ledger import service as ledger
from api.pagination import CursorParam, LimitParam, Page, paginate

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403, 422))


@router.get("/users")
def list_users(
    principal: AdminPrincipal,
    session: SessionDep,
    origin: OriginDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[UserOut]:
    audit.record(
        session,
        action=audit.USERS_READ,
        actor_id=principal.user_id,
        target="users",
        origin=origin,
        detail={"limit": limit, "cursor": cursor is not None},
    )
    rows, next_cursor = paginate(
        session, select(User), created_at=User.created_at, row_id=User.id, limit=limit, cursor=cursor
    )
    return Page[UserOut](data=[UserOut.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post("/users/{id}/role", responses=problem_responses(404))
def set_role(
    id: PathId, body: RoleIn, principal: AdminPrincipal, session: SessionDep, origin: OriginDep
) -> UserOut:
    user = auth_service.set_role(
        session, user_id=id, role=body.role, actor_id=principal.user_id, origin=origin
    )
    return UserOut.model_validate(user)


@router.post("/users/{id}/unlock", responses=problem_responses(404))
def unlock_login(id: PathId, principal: AdminPrincipal, session: SessionDep, origin: OriginDep) -> UserOut:
    """Lift the user's login lock (after failed logins) at once, and forget their failed
    attempts; audited as `auth.login_unlocked`."""
    user = auth_service.unlock_login(session, user_id=id, actor_id=principal.user_id, origin=origin)
    return UserOut.model_validate(user)


@router.post("/users/{id}/mfa/reset", responses=problem_responses(404))
def reset_mfa(id: PathId, principal: AdminPrincipal, session: SessionDep, origin: OriginDep) -> UserOut:
    """Remove the user's second factor (a lost device) and end their sessions; they enrol again
    at their next sign-in. Audited as `auth.mfa_reset`."""
    mfa.reset(session, user_id=id, actor_id=principal.user_id, origin=origin)
    return UserOut.model_validate(auth_service.get_user(session, user_id=id))


class TrialBalanceOut(BaseModel):
    balanced: bool
    total_debits: int
    total_credits: int
    pending_total: int
    accounts: list[dict[str, Any]]


@router.get("/ledger/trial-balance")
def trial_balance(_: AdminPrincipal, session: SessionDep) -> TrialBalanceOut:
    """Posted debits and credits of every ledger account, and whether the ledger balances
    (debits equal credits, holds net to zero, every kept balance equals its entries)."""
    result = ledger.trial_balance(session)
    return TrialBalanceOut(
        balanced=result.balanced,
        total_debits=result.total_debits,
        total_credits=result.total_credits,
        pending_total=result.pending_total,
        accounts=result.accounts,
    )
