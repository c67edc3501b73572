"""Statements (customers) and the sandbox clock (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.accounts import service as accounts
from api.audit import service as audit
from api.audit.service import Origin
from api.auth.models import User
from api.billing import repository, service
from api.billing.models import Statement
from api.billing.pdf import render_statement_pdf
from api.billing.schemas import (
    BillingRunOut,
    ClockAdvanceIn,
    ClockAdvanceOut,
    ClockOut,
    StatementDetailOut,
    StatementOut,
)
from api.deps import (
    AdminPrincipal,
    ClockDep,
    CurrentPrincipal,
    OptionalUserIdempotency,
    OriginDep,
    SessionDep,
    SettingsDep,
)
from api.errors import NotFound, problem_responses
from api.ids import PathId
from api.jobs import daily as daily_job
from api.network.schemas import TransactionOut
from api.pagination import CursorParam, LimitParam, Page, paginate

router = APIRouter(tags=["statements"], responses=problem_responses(401, 422))
clock_router = APIRouter(prefix="/v1/sandbox/clock", tags=["sandbox"], responses=problem_responses(401, 403))

ResourceId = PathId
_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The statement as a PDF."}
}
_NOT_FOUND = problem_responses(404, s404="account_not_found or statement_not_found")


@router.get("/v1/accounts/{id}/statements", responses=_NOT_FOUND)
def list_statements(
    id: ResourceId,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
    origin: OriginDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[StatementOut]:
    """The account's statements, newest first."""
    account = accounts.visible_account(session, principal, id)
    _staff_read(session, principal, account.user_id, account.id, "statements", origin)
    rows, next_cursor = paginate(
        session,
        repository.statements_for_accounts(account.id),
        created_at=Statement.created_at,
        row_id=Statement.id,
        limit=limit,
        cursor=cursor,
    )
    phone = settings.credit_counseling_phone
    return Page[StatementOut](
        data=[StatementOut.of(s, credit_counseling_phone=phone) for s in rows], next_cursor=next_cursor
    )


def _staff_read(
    session: SessionDep, principal: CurrentPrincipal, owner_id: str, target: str, what: str, origin: Origin
) -> None:
    audit.staff_read(
        session,
        reader_id=principal.user_id,
        reader_role=principal.role,
        owner_id=owner_id,
        target=target,
        what=what,
        origin=origin,
    )


def _visible_statement(
    session: SessionDep, principal: CurrentPrincipal, statement_id: str, *, what: str, origin: Origin
) -> Statement:
    """The statement when its account is the caller's (or an admin's to see: audited)."""
    statement = session.get(Statement, statement_id)
    if statement is not None:
        try:
            account = accounts.visible_account(session, principal, statement.account_id)
        except NotFound:
            statement = None
        else:
            _staff_read(session, principal, account.user_id, statement.id, what, origin)
    if statement is None:
        raise NotFound("No statement with this id.", code="statement_not_found")
    return statement


@router.get("/v1/statements/{id}", responses=_NOT_FOUND)
def get_statement(
    id: ResourceId, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> StatementDetailOut:
    """One statement with the transactions of its period."""
    statement = _visible_statement(session, principal, id, what="statement", origin=origin)
    transactions = service.statement_transactions(session, statement)
    return StatementDetailOut(
        **StatementOut.of(statement, credit_counseling_phone=settings.credit_counseling_phone).model_dump(),
        transactions=[TransactionOut.of(t) for t in transactions],
    )


@router.get(
    "/v1/statements/{id}/pdf",
    responses=_PDF | _NOT_FOUND,
    response_class=Response,
)
def get_statement_pdf(
    id: ResourceId, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep, origin: OriginDep
) -> Response:
    """The statement as a PDF, as the customer receives it."""
    statement = _visible_statement(session, principal, id, what="statement_pdf", origin=origin)
    transactions = service.statement_transactions(session, statement)
    account = accounts.visible_account(session, principal, statement.account_id)
    holder = session.get(User, account.user_id)
    content = render_statement_pdf(
        statement,
        transactions,
        holder_name=holder.full_name if holder else None,
        credit_counseling_phone=settings.credit_counseling_phone,
    )
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{statement.id}.pdf"'},
    )


@clock_router.get("")
def get_clock(_: AdminPrincipal, clock: ClockDep) -> ClockOut:
    """The platform's current time."""
    return ClockOut(now=clock.now(), movable=clock.movable)


@clock_router.post(
    "/advance",
    responses=problem_responses(
        403, 422, s403="clock_not_movable", s422="clock_backwards, clock_advance_too_large, …"
    ),
)
def advance_clock(
    body: ClockAdvanceIn,
    request: Request,
    principal: AdminPrincipal,
    clock: ClockDep,
    idem: OptionalUserIdempotency,
    origin: OriginDep,
) -> ClockAdvanceOut:
    """Move the sandbox clock forward (`{days}` 1..400 or `{to}`); run the daily job for each day passed."""
    move = daily_job.advance_clock(
        request.app.state.sessionmaker,
        clock,
        days=body.days,
        to=body.to,
        stripe_client=getattr(request.app.state, "stripe", None),
        actor_id=principal.user_id,
        origin=origin,
    )
    return idem.save(
        200,
        ClockAdvanceOut(
            previous=move.previous,
            now=move.now,
            runs=[
                BillingRunOut(
                    day=r.day,
                    started_at=r.started_at,
                    finished_at=r.finished_at,
                    counts=r.counts,
                    already_run=r.already_run,
                )
                for r in move.runs
            ],
        ),
    )
