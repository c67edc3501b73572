"""Higher limits on an open account, decided by the application's underwriting.

12 CFR 1026.51(a)(1)(i): a card issuer must not "increase any credit limit applicable to
such account, unless the card issuer considers the consumer's ability to make the required
minimum periodic payments under the terms of the account based on the consumer's income or
assets and the consumer's current obligations". A request is decided at once by
``underwriting.decide`` on the facts of the application that opened the account (income,
housing, employment, age today) and the bureau's score today (``bureau.CreditBureau``), with
the requested limit:

- approved, and the rules' limit (at most the one requested) is above the current one: the
  account's limit becomes it;
- otherwise declined, with the rules' reasons (an adverse action: Regulation B, 12 CFR
  1002.9); when the rules allow no more than the current limit, the bound that holds it:
  ``credit_limit_at_tier_maximum`` (the score tier's cap) or ``insufficient_income``.

One customer holds at most one open card account (``api.applications.service.apply``): this
is how a customer gets more credit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.accounts import repository as accounts_repository
from api.accounts import service as accounts_service
from api.applications import repository, underwriting
from api.applications.bureau import Applicant, CreditBureau
from api.applications.models import CreditLimitRequest
from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.auth.security import Principal
from api.errors import Conflict, UnprocessableEntity
from api.ids import new_id


def request_credit_limit(
    session: Session,
    principal: Principal,
    *,
    account_id: str,
    requested_credit_limit: int,
    bureau: CreditBureau,
    now: datetime,
    origin: Origin = NO_ORIGIN,
) -> CreditLimitRequest:
    visible = accounts_service.visible_account(session, principal, account_id)
    # The account's row locked: two requests at once are decided one after the other.
    account = accounts_repository.lock_account(session, visible.id)
    if account.status != "active":
        raise Conflict("This account is closed.", code="account_closed")
    if requested_credit_limit <= account.credit_limit:
        raise UnprocessableEntity(
            f"The requested limit must be above the current one ({account.credit_limit}).",
            code="credit_limit_not_higher",
            credit_limit=account.credit_limit,
        )
    application = repository.select_latest_application_of_account(session, account.id)
    if application is None:
        raise Conflict(
            "This account was not opened by an application: there is no income on file to decide on.",
            code="no_application_on_file",
        )
    user = repository.select_applicant(session, account.user_id)
    # The bureau's score today (BureauUnavailable, 503, before anything is written).
    report = bureau.score(
        Applicant(full_name=user.full_name, email=user.email, date_of_birth=application.date_of_birth),
        purpose="credit_limit_increase",
    )
    facts = underwriting.ApplicationFacts(
        annual_income=application.annual_income,
        monthly_housing_payment=application.monthly_housing_payment,
        employment_status=application.employment_status,  # type: ignore[arg-type]
        date_of_birth=application.date_of_birth,
        requested_credit_limit=requested_credit_limit,
        credit_score=report.score,
        today=now.date(),
    )
    decision = underwriting.decide(facts)
    previous = account.credit_limit
    if (
        decision.status == "approved"
        and decision.credit_limit is not None
        and decision.credit_limit > previous
    ):
        status, limit, reasons = "approved", decision.credit_limit, []
        account.credit_limit = limit
    else:
        status, limit = "declined", previous
        reasons = (
            list(decision.reasons) if decision.status != "approved" else [_why_no_more(decision, previous)]
        )
    request = CreditLimitRequest(
        id=new_id("clr"),
        account_id=account.id,
        user_id=account.user_id,
        requested_credit_limit=requested_credit_limit,
        previous_credit_limit=previous,
        status=status,
        credit_limit=limit,
        reasons=reasons,
        credit_score=decision.score,
        dti_bps=decision.dti_bps,
        created_at=now,
    )
    session.add(request)
    audit.record(
        session,
        action=audit.CREDIT_LIMIT_REQUESTED,
        actor_id=principal.user_id,
        target=account.id,
        origin=origin,
        detail={"requested": requested_credit_limit, "status": status, "from": previous, "to": limit},
    )
    session.flush()
    return request


def _why_no_more(decision: underwriting.Decision, current: int) -> str:
    tier = underwriting.tier_for(decision.score)
    if tier is not None and tier.limit_cap <= current:
        return "credit_limit_at_tier_maximum"
    return "insufficient_income"
