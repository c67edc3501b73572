"""The applications domain's queries (applications and credit-limit requests)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.applications.models import Application
from api.auth.models import User


def select_application(session: Session, application_id: str) -> Application | None:
    return session.get(Application, application_id)


def lock_application(session: Session, application_id: str) -> Application | None:
    return session.execute(
        select(Application).where(Application.id == application_id).with_for_update()
    ).scalar_one_or_none()


def select_application_in_review_id(session: Session, user_id: str) -> str | None:
    """The id of the user's application in manual review, if any (at most one: a partial unique
    index)."""
    row = session.execute(
        select(Application.id).where(Application.user_id == user_id, Application.status == "manual_review")
    ).first()
    return row[0] if row is not None else None


def select_latest_application_of_account(session: Session, account_id: str) -> Application | None:
    """The application that opened the account (the latest, should there be more)."""
    return session.execute(
        select(Application)
        .where(Application.account_id == account_id)
        .order_by(Application.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()


def applications_of_user(user_id: str) -> Select[Any]:
    return select(Application).where(Application.user_id == user_id)


def lock_applicant(session: Session, user_id: str) -> User | None:
    """The applicant's row, locked: one customer's applications are decided one at a time."""
    return session.get(User, user_id, with_for_update=True)


def select_applicant(session: Session, user_id: str) -> User:
    return session.get_one(User, user_id)
