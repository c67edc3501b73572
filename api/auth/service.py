"""Registration, login (password and refresh grants), logout and roles.

Services take ``(session, …)`` with keyword-only arguments, flush and never
commit; they raise the domain errors from ``api.errors``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.auth import mfa, repository, versions
from api.auth.models import ROLES, LoginThrottle, RefreshToken, User
from api.auth.schemas import MIN_PASSWORD_LENGTH
from api.auth.security import (
    DUMMY_PASSWORD_HASH,
    MFA_ENROLMENT_SCOPE,
    STAFF_ROLES,
    TokenSettings,
    hash_password,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    verify_password,
)
from api.crypto import SecretBox
from api.errors import BadRequest, Conflict, NotFound, TooManyRequests, UnprocessableEntity
from api.ids import new_id


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lockout: timedelta
    # Production: a staff member without a confirmed second factor gets an enrolment-only token.
    staff_mfa_required: bool = False
    # A staff session whose last sign-in or refresh is older than this ends (PCI DSS 8.2.8).
    staff_idle_timeout: timedelta | None = None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str


class InvalidGrant(BadRequest):
    code, title = "invalid_grant", "Invalid grant"


class MfaRequired(BadRequest):
    code, title = "mfa_required", "One-time code required"


def register(
    session: Session,
    *,
    email: str,
    password: str,
    full_name: str,
    role: str = "customer",
    password_hash: str | None = None,
) -> User:
    """A new user. ``password_hash``, for bulk loads and imports, is ``hash_password(password)``
    made beforehand (argon2 costs ~50 ms a hash here; a bulk load whose users share a password
    hashes it once). It is not verified again (that would cost what it saves); only its form is
    checked."""
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UnprocessableEntity(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters.", code="weak_password"
        )
    if role not in ROLES:
        raise UnprocessableEntity(f"Unknown role {role!r}.", code="invalid_role")
    if repository.select_user_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists.", code="email_taken")
    user = User(
        id=new_id("usr"),
        email=email,
        full_name=full_name,
        password_hash=hash_password(password) if password_hash is None else _checked(password_hash),
        role=role,
    )
    session.add(user)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    return user


def _checked(password_hash: str) -> str:
    if not password_hash.startswith("$argon2id$"):
        raise ValueError("password_hash is not an argon2id hash")
    return password_hash


def _issue_pair(
    session: Session,
    *,
    user: User,
    family_id: str,
    tokens: TokenSettings,
    refresh_ttl: timedelta,
    now: datetime,
    scope: str | None = None,
) -> TokenPair:
    refresh = new_refresh_token()
    session.add(
        RefreshToken(
            id=new_id("rtk"),
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_refresh_token(refresh),
            # The family's last activity, for the staff idle timeout: the security clock's now.
            created_at=now,
            expires_at=now + refresh_ttl,
        )
    )
    session.flush()
    return TokenPair(
        access_token=issue_access_token(
            tokens, user_id=user.id, role=user.role, now=now, version=user.token_version, scope=scope
        ),
        expires_in=int(tokens.ttl_for(user.role).total_seconds()),
        refresh_token=refresh,
    )


def _enrolment_scope(session: Session, user: User, policy: LoginPolicy | None) -> str | None:
    """The enrolment-only scope for a production staff member without a confirmed factor."""
    if policy is None or not policy.staff_mfa_required or user.role not in STAFF_ROLES:
        return None
    return None if repository.totp_confirmed(session, user.id) else MFA_ENROLMENT_SCOPE


def _count_failure(
    session: Session,
    throttle: LoginThrottle,
    *,
    policy: LoginPolicy,
    now: datetime,
    user: User | None,
    email: str,
    reason: str,
    origin: Origin,
) -> None:
    """One failed attempt toward the lockout (PCI DSS 8.3.4), audited."""
    throttle.failed_count += 1
    throttle.first_failed_at = throttle.first_failed_at or now
    if throttle.failed_count >= policy.max_failures:
        throttle.locked_until = now + policy.lockout
        throttle.failed_count = 0
        throttle.first_failed_at = None
    audit.record(
        session,
        action=audit.LOGIN_FAILED,
        actor_id=user.id if user else None,
        target=f"email:{email}",
        origin=origin,
        detail={"reason": reason},
    )
    session.flush()


def login_with_password(
    session: Session,
    *,
    email: str,
    password: str,
    tokens: TokenSettings,
    refresh_ttl: timedelta,
    policy: LoginPolicy,
    now: datetime,
    origin: Origin = NO_ORIGIN,
    otp: str | None = None,
    totp_box: SecretBox | None = None,
) -> TokenPair:
    """A token pair for the right password (and, once the user has confirmed a second factor,
    the right one-time code ``otp``); every attempt, good or bad, is audited
    (a failure's audit row and throttle count commit although the answer is an error).

    The lockout (issue 21, finding 8) stays per account, as PCI DSS 8.3.4 asks (the user id
    is locked after at most ``LOGIN_MAX_FAILURES`` invalid attempts, for at least 30 minutes).
    Counting per (account, IP) instead would let a botnet try ten guesses per address per
    half hour against one account. What keeps the lock from being a lever against its owner:

    - a lock does not renew: an attempt while locked is refused before any hash, is not
      counted and does not move ``locked_until``, so an attacker cannot hold it for ever by
      guessing on; the lock runs out ``LOGIN_LOCKOUT_SECONDS`` after the tenth failure;
    - the gateway's per-IP credential limit (``RATE_LIMIT_CREDENTIALS_PER_IP``, 10/minute)
      bounds how many accounts one address can lock, and its argon2 work, before this runs;
    - an admin lifts a lock at once (``POST /v1/admin/users/{id}/unlock``, audited), another
      admin's too; an owner already signed in keeps their session, since the refresh grant
      does not read the lock.
    """
    email = normalise_email(email)
    throttle = repository.lock_throttle(session, email)
    if throttle.locked_until is not None and throttle.locked_until > now:
        retry_after = math.ceil((throttle.locked_until - now).total_seconds())
        audit.record(
            session,
            action=audit.LOGIN_FAILED,
            actor_id=None,
            target=f"email:{email}",
            origin=origin,
            detail={"reason": "locked"},
        )
        raise TooManyRequests(
            "Too many failed logins for this email; it is locked for a while.",
            code="login_locked",
            retry_after=retry_after,
            keep_changes=True,
        )
    user = repository.select_user_by_email(session, email)
    # An unknown email verifies a dummy hash, so it costs what a wrong password costs.
    valid = verify_password(password, user.password_hash if user else DUMMY_PASSWORD_HASH)
    if user is None or not valid or not user.is_active:
        reason = "inactive" if user and valid else "invalid_credentials"
        _count_failure(
            session, throttle, policy=policy, now=now, user=user, email=email, reason=reason, origin=origin
        )
        raise InvalidGrant("The email or password is incorrect.", keep_changes=True)
    # The second factor (issue 21, finding 7). A missing code is not counted (the password was
    # right) but does not clear the count either: otherwise a password-only attempt between
    # guesses of the code would reset the lockout.
    credential = repository.lock_totp(session, user.id)
    if credential is not None and credential.confirmed_at is not None:
        if not otp:
            audit.record(
                session,
                action=audit.LOGIN_FAILED,
                actor_id=user.id,
                target=f"email:{email}",
                origin=origin,
                detail={"reason": "otp_missing"},
            )
            session.flush()
            raise MfaRequired(
                "This account has a second factor: send the one-time code as otp.", keep_changes=True
            )
        if totp_box is None or not mfa.accept_code(credential, otp, box=totp_box, now=now):
            _count_failure(
                session,
                throttle,
                policy=policy,
                now=now,
                user=user,
                email=email,
                reason="invalid_otp",
                origin=origin,
            )
            raise InvalidGrant("The one-time code is incorrect or was already used.", keep_changes=True)
    throttle.failed_count = 0
    throttle.first_failed_at = None
    throttle.locked_until = None
    scope = _enrolment_scope(session, user, policy)
    audit.record(
        session,
        action=audit.LOGIN,
        actor_id=user.id,
        target=user.id,
        origin=origin,
        detail={"mfa": mfa.is_confirmed(credential), **({"scope": scope} if scope else {})},
    )
    return _issue_pair(
        session,
        user=user,
        family_id=new_id("fam"),
        tokens=tokens,
        refresh_ttl=refresh_ttl,
        now=now,
        scope=scope,
    )


def refresh(
    session: Session,
    *,
    refresh_token: str,
    tokens: TokenSettings,
    refresh_ttl: timedelta,
    now: datetime,
    origin: Origin = NO_ORIGIN,
    policy: LoginPolicy | None = None,
) -> TokenPair:
    """A new pair for a valid refresh token, rotated (RFC 9700). A staff session idle for longer
    than ``policy.staff_idle_timeout`` ends instead (PCI DSS 8.2.8): its refresh token was issued
    at the family's last sign-in or refresh, and staff access tokens expire sooner than the
    timeout, so a refresh is the activity that keeps a session alive (no request pays a write).
    """
    stored = repository.lock_refresh_token(session, hash_refresh_token(refresh_token))
    if stored is None:
        raise InvalidGrant("The refresh token is invalid.")
    if stored.used_at is not None or stored.revoked_at is not None:
        # Reuse of a spent token: someone holds a copy. Revoke the whole family (RFC 9700 §4.14).
        repository.revoke_family(session, stored.family_id, now)
        audit.record(
            session,
            action=audit.REFRESH_TOKEN_REUSED,
            actor_id=stored.user_id,
            target=stored.family_id,
            origin=origin,
            detail={"family_revoked": True},
        )
        session.flush()
        raise InvalidGrant("The refresh token has already been used or revoked.", keep_changes=True)
    if stored.expires_at <= now:
        raise InvalidGrant("The refresh token has expired.")
    user = repository.select_user(session, stored.user_id)
    if user is None or not user.is_active:
        raise InvalidGrant("The refresh token is invalid.")
    idle_limit = policy.staff_idle_timeout if policy is not None else None
    if user.role in STAFF_ROLES and idle_limit is not None and now - stored.created_at > idle_limit:
        repository.revoke_family(session, stored.family_id, now)
        audit.record(
            session,
            action=audit.SESSION_IDLE,
            actor_id=user.id,
            target=stored.family_id,
            origin=origin,
            detail={"idle_seconds": int((now - stored.created_at).total_seconds()), "family_revoked": True},
        )
        session.flush()
        raise InvalidGrant(
            "The session was idle for too long: sign in again.", reason="session_idle", keep_changes=True
        )
    stored.used_at = now
    return _issue_pair(
        session,
        user=user,
        family_id=stored.family_id,
        tokens=tokens,
        refresh_ttl=refresh_ttl,
        now=now,
        scope=_enrolment_scope(session, user, policy),
    )


def logout(session: Session, *, refresh_token: str, now: datetime, origin: Origin = NO_ORIGIN) -> None:
    """Revoke the token's family (audited: whose, which family)."""
    stored = repository.lock_refresh_token(session, hash_refresh_token(refresh_token))
    if stored is not None:
        repository.revoke_family(session, stored.family_id, now)
        audit.record(
            session,
            action=audit.LOGOUT,
            actor_id=stored.user_id,
            target=stored.family_id,
            origin=origin,
            detail={"family_revoked": True},
        )
        session.flush()


def get_user(session: Session, *, user_id: str) -> User:
    user = repository.select_user(session, user_id)
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    return user


def set_role(
    session: Session,
    *,
    user_id: str,
    role: str,
    actor_id: str | None = "system",
    origin: Origin = NO_ORIGIN,
) -> User:
    """Give a user a role (audited: who, from what to what)."""
    if role not in ROLES:
        raise UnprocessableEntity(f"Unknown role {role!r}.", code="invalid_role")
    user = get_user(session, user_id=user_id)
    previous, user.role = user.role, role
    if previous != role:
        # Tokens already issued stop working at once: the access tokens by their version, the
        # refresh tokens revoked (the next sign-in issues tokens of the new role).
        user.token_version += 1
        repository.revoke_user_tokens(session, user.id)
        versions.notify_changed(session, user.id)
    audit.record(
        session,
        action=audit.ROLE_CHANGED,
        actor_id=actor_id,
        target=user.id,
        origin=origin,
        detail={"from": previous, "to": role},
    )
    session.flush()
    return user


def unlock_login(
    session: Session, *, user_id: str, actor_id: str | None = "system", origin: Origin = NO_ORIGIN
) -> User:
    """Lift a user's login lock and forget their failed attempts (audited: who, and whether
    the login was locked)."""
    user = get_user(session, user_id=user_id)
    throttle = repository.lock_throttle(session, user.email)
    was_locked = throttle.locked_until is not None
    throttle.failed_count = 0
    throttle.first_failed_at = None
    throttle.locked_until = None
    audit.record(
        session,
        action=audit.LOGIN_UNLOCKED,
        actor_id=actor_id,
        target=user.id,
        origin=origin,
        detail={"was_locked": was_locked},
    )
    session.flush()
    return user


def ensure_user(
    session: Session, *, email: str, password: str, full_name: str, role: str
) -> tuple[User, bool]:
    """The user with this email, created with the given role when absent (for start-up and the CLI)."""
    existing = repository.select_user_by_email(session, normalise_email(email))
    if existing is not None:
        return existing, False
    return register(session, email=email, password=password, full_name=full_name, role=role), True
