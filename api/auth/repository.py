from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from api.auth.models import LoginThrottle, RefreshToken, TotpCredential, User


def select_user(session: Session, user_id: str) -> User | None:
    if "\x00" in user_id:  # from a path: no id holds a NUL, and PostgreSQL text cannot
        return None
    return session.get(User, user_id)


def select_user_by_email(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def lock_refresh_token(session: Session, token_hash: str) -> RefreshToken | None:
    return session.execute(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    ).scalar_one_or_none()


def revoke_family(session: Session, family_id: str, now: datetime) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_user_tokens(session: Session, user_id: str) -> None:
    """Revoke every refresh token of the user (a role or status change), as of the database's
    clock: the moment of the change, not a business day."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


def lock_throttle(session: Session, email: str) -> LoginThrottle:
    """The throttle row for an email, created when absent, locked for this transaction."""
    session.execute(insert(LoginThrottle).values(email=email, failed_count=0).on_conflict_do_nothing())
    return session.execute(
        select(LoginThrottle).where(LoginThrottle.email == email).with_for_update()
    ).scalar_one()


def lock_totp(session: Session, user_id: str) -> TotpCredential | None:
    """The user's TOTP credential, locked for this transaction (two sign-ins with one code: one wins)."""
    return session.execute(
        select(TotpCredential).where(TotpCredential.user_id == user_id).with_for_update()
    ).scalar_one_or_none()


def totp_confirmed(session: Session, user_id: str) -> bool:
    return (
        session.execute(
            select(TotpCredential.user_id).where(
                TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
            )
        ).first()
        is not None
    )
