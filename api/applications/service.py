"""Card applications: the rules decide (``underwriting``), approval opens an account and a card."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.accounts import repository as accounts_repository
from api.accounts import service as accounts_service
from api.applications import repository, underwriting
from api.applications.bureau import Applicant, CreditBureau
from api.applications.models import Application
from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.auth.security import Principal
from api.cards import service as cards_service
from api.cards.numbers import CardVault
from api.errors import Conflict, NotFound, UnprocessableEntity
from api.ids import new_id


def _facts(application: Application, today: date) -> underwriting.ApplicationFacts:
    return underwriting.ApplicationFacts(
        annual_income=application.annual_income,
        monthly_housing_payment=application.monthly_housing_payment,
        employment_status=application.employment_status,  # type: ignore[arg-type]
        date_of_birth=application.date_of_birth,
        requested_credit_limit=application.requested_credit_limit,
        credit_score=application.credit_score,
        today=today,
    )


def _record(
    session: Session,
    application: Application,
    decision: underwriting.Decision,
    *,
    vault: CardVault,
    now: datetime,
) -> None:
    application.status = decision.status
    application.credit_limit = decision.credit_limit
    application.apr_bps = decision.apr_bps
    application.reasons = list(decision.reasons)
    application.dti_bps = decision.dti_bps
    if decision.status != "manual_review":
        application.decided_at = now
    if decision.status == "approved":
        assert decision.credit_limit is not None
        assert decision.apr_bps is not None
        account = accounts_service.open_account(
            session,
            user_id=application.user_id,
            application_id=application.id,
            credit_limit=decision.credit_limit,
            apr_bps=decision.apr_bps,
            now=now,
        )
        cards_service.issue_card(session, account=account, vault=vault, now=now)
        application.account_id = account.id


def apply(
    session: Session,
    principal: Principal,
    *,
    annual_income: int,
    monthly_housing_payment: int,
    employment_status: str,
    date_of_birth: date,
    requested_credit_limit: int | None,
    bureau: CreditBureau,
    vault: CardVault,
    now: datetime,
) -> Application:
    if date_of_birth > now.date():
        raise UnprocessableEntity("date_of_birth is in the future.", code="invalid_date_of_birth")
    # The applicant's row locked: two applications of one customer are decided one after the
    # other, so the second sees the account the first opened.
    user = repository.lock_applicant(session, principal.user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    open_account_id = accounts_repository.select_open_account_id(session, user.id)
    if open_account_id is not None:
        raise Conflict(
            "You already have an open card account; ask for a higher limit on it instead "
            f"(POST /v1/accounts/{open_account_id}/credit-limit-requests).",
            code="account_exists",
            account_id=open_account_id,
        )
    in_review_id = repository.select_application_in_review_id(session, user.id)
    if in_review_id is not None:
        raise Conflict(
            "You already have an application under review.",
            code="application_pending",
            application_id=in_review_id,
        )
    # Asked only once the customer may apply (an inquiry is not free, and a bureau records it).
    # A bureau that fails raises BureauUnavailable (503) before anything is written.
    report = bureau.score(
        Applicant(full_name=user.full_name, email=user.email, date_of_birth=date_of_birth),
        purpose="application",
    )
    application = Application(
        id=new_id("app"),
        user_id=user.id,
        status="manual_review",
        annual_income=annual_income,
        monthly_housing_payment=monthly_housing_payment,
        employment_status=employment_status,
        date_of_birth=date_of_birth,
        requested_credit_limit=requested_credit_limit,
        credit_score=report.score,
        dti_bps=0,
        reasons=[],
        created_at=now,
    )
    decision = underwriting.decide(_facts(application, now.date()))
    session.add(application)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent application won the race to be the open one
        raise Conflict("You already have an application under review.", code="application_pending") from exc
    _record(session, application, decision, vault=vault, now=now)
    session.flush()
    return application


def visible_application(session: Session, principal: Principal, application_id: str) -> Application:
    application = repository.select_application(session, application_id)
    if application is None or (application.user_id != principal.user_id and principal.role != "admin"):
        raise NotFound("No application with this id.", code="application_not_found")
    return application


def decide(
    session: Session,
    principal: Principal,
    *,
    application_id: str,
    decision: str,
    credit_limit: int | None,
    vault: CardVault,
    now: datetime,
    origin: Origin = NO_ORIGIN,
) -> Application:
    """An admin decides an application the rules sent to manual review (audited)."""
    application = repository.lock_application(session, application_id)
    if application is None:
        raise NotFound("No application with this id.", code="application_not_found")
    if application.status != "manual_review":
        raise Conflict(
            f"This application is already {application.status}.", code="application_already_decided"
        )
    verdict = underwriting.decide_manually(
        _facts(application, now.date()),
        decision=decision,  # type: ignore[arg-type]
        credit_limit=credit_limit,
    )
    application.decided_by = principal.user_id
    _record(session, application, verdict, vault=vault, now=now)
    audit.record(
        session,
        action=audit.APPLICATION_DECIDED,
        actor_id=principal.user_id,
        target=application.id,
        origin=origin,
        detail={"decision": decision, "status": application.status, "credit_limit": application.credit_limit},
    )
    session.flush()
    return application
