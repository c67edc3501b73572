from __future__ import annotations

from fastapi import APIRouter, Request, status

from api.applications import credit_limits, repository, service
from api.applications.models import Application
from api.applications.schemas import (
    ApplicationIn,
    ApplicationOut,
    CreditLimitRequestIn,
    CreditLimitRequestOut,
    DecisionIn,
)
from api.deps import (
    AdminPrincipal,
    ClockDep,
    CurrentPrincipal,
    OptionalUserIdempotency,
    OriginDep,
    SessionDep,
    UserIdempotency,
)
from api.errors import problem_responses
from api.ids import PathId
from api.pagination import CursorParam, LimitParam, Page, paginate

router = APIRouter(prefix="/v1/applications", tags=["applications"], responses=problem_responses(401, 422))

ApplicationId = PathId


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        409, 503, s409="account_exists, application_pending", s503="bureau_unavailable"
    ),
)
def apply(
    request: Request,
    body: ApplicationIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    idem: OptionalUserIdempotency,
) -> ApplicationOut:
    """Apply for a card. The rules decide at once: approved (with an account and a card),
    declined, or manual_review (an admin decides); declines and reviews carry reason codes."""
    application = service.apply(
        session,
        principal,
        annual_income=body.annual_income,
        monthly_housing_payment=body.monthly_housing_payment,
        employment_status=body.employment_status,
        date_of_birth=body.date_of_birth,
        requested_credit_limit=body.requested_credit_limit,
        bureau=request.app.state.credit_bureau,
        vault=request.app.state.card_vault,
        now=clock.now(),
    )
    return idem.save(201, ApplicationOut.of(application))


@router.get("")
def list_applications(
    principal: CurrentPrincipal, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[ApplicationOut]:
    rows, next_cursor = paginate(
        session,
        repository.applications_of_user(principal.user_id),
        created_at=Application.created_at,
        row_id=Application.id,
        limit=limit,
        cursor=cursor,
    )
    return Page[ApplicationOut](data=[ApplicationOut.of(a) for a in rows], next_cursor=next_cursor)


@router.get("/{id}", responses=problem_responses(404, s404="application_not_found"))
def get_application(id: ApplicationId, principal: CurrentPrincipal, session: SessionDep) -> ApplicationOut:
    return ApplicationOut.of(service.visible_application(session, principal, id))


@router.post(
    "/{id}/decision",
    responses=problem_responses(
        403, 404, 409, s404="application_not_found", s409="application_already_decided"
    ),
)
def decide(
    request: Request,
    id: ApplicationId,
    body: DecisionIn,
    principal: AdminPrincipal,
    session: SessionDep,
    clock: ClockDep,
    origin: OriginDep,
) -> ApplicationOut:
    """An admin's decision on an application in manual_review."""
    application = service.decide(
        session,
        principal,
        application_id=id,
        decision=body.decision,
        credit_limit=body.credit_limit,
        vault=request.app.state.card_vault,
        now=clock.now(),
        origin=origin,
    )
    return ApplicationOut.of(application)


# A higher limit is asked for on the account: one customer holds one open card account.
limits_router = APIRouter(prefix="/v1/accounts", tags=["accounts"], responses=problem_responses(401, 422))


@limits_router.post(
    "/{id}/credit-limit-requests",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        404,
        409,
        503,
        s404="account_not_found",
        s409="account_closed, no_application_on_file",
        s503="bureau_unavailable",
    ),
)
def request_credit_limit(
    request: Request,
    id: PathId,
    body: CreditLimitRequestIn,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    idem: UserIdempotency,
    origin: OriginDep,
) -> CreditLimitRequestOut:
    """Ask for a higher limit: decided at once by the application's underwriting (ability to
    pay, 12 CFR 1026.51); approved raises the account's limit, declined lists the reasons."""
    made = credit_limits.request_credit_limit(
        session,
        principal,
        account_id=id,
        requested_credit_limit=body.requested_credit_limit,
        bureau=request.app.state.credit_bureau,
        now=clock.now(),
        origin=origin,
    )
    return idem.save(201, CreditLimitRequestOut.of(made))
