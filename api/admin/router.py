from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.auth import service as auth_service
from api.auth.models import User
from api.auth.schemas import RoleIn, UserOut
from api.deps import AdminPrincipal, SessionDep
from api.errors import problem_responses
from api.pagination import CursorParam, LimitParam, Page, paginate

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=problem_responses(401, 403, 422))


@router.get("/users")
def list_users(
    _: AdminPrincipal, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[UserOut]:
    rows, next_cursor = paginate(
        session, select(User), created_at=User.created_at, row_id=User.id, limit=limit, cursor=cursor
    )
    return Page[UserOut](data=[UserOut.model_validate(u) for u in rows], next_cursor=next_cursor)


@router.post("/users/{id}/role", responses=problem_responses(404))
def set_role(id: str, body: RoleIn, _: AdminPrincipal, session: SessionDep) -> UserOut:
    return UserOut.model_validate(auth_service.set_role(session, user_id=id, role=body.role))
