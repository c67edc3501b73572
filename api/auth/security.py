"""Passwords (argon2id), access tokens (JWT) and refresh tokens (opaque, hashed)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from api.errors import Unauthorized
from api.ids import new_id

# OWASP's argon2id minimum is 19 MiB, t=2, p=1; we keep memory at 19 MiB and
# add a pass, which costs ~40 ms here and keeps login well inside a second.
PASSWORD_HASHER = PasswordHash((Argon2Hasher(memory_cost=19 * 1024, time_cost=3, parallelism=1),))
# Verified when an email is unknown, so that a miss costs what a wrong password costs.
DUMMY_PASSWORD_HASH = PASSWORD_HASHER.hash("cardportal-timing-equaliser")


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password, password_hash)
    except Exception:  # a malformed stored hash is a failed login, never a 500
        return False


STAFF_ROLES = frozenset({"analyst", "finance", "admin"})
# The scope of a staff member's token in production before they have a second factor: only
# ``/v1/me`` and ``/v1/me/mfa/…`` (api/deps.py); everything else is 403 ``mfa_enrolment_required``.
MFA_ENROLMENT_SCOPE = "mfa_enrolment"


@dataclass(frozen=True)
class TokenSettings:
    secret: str
    algorithm: str
    issuer: str
    audience: str
    access_ttl: timedelta
    # Staff tokens live at most this long, so that their refreshes measure the session's
    # activity (the idle timeout, api/auth/service.py).
    staff_access_ttl: timedelta | None = None

    def ttl_for(self, role: str) -> timedelta:
        if role in STAFF_ROLES and self.staff_access_ttl is not None:
            return min(self.access_ttl, self.staff_access_ttl)
        return self.access_ttl


@dataclass(frozen=True)
class Principal:
    """The caller, as its access token says."""

    user_id: str
    role: str
    token_id: str
    # The user's token version when the token was issued (api.auth.versions).
    version: int = 0
    # A staff token issued without a second factor in production: enrolment only.
    enrolment_only: bool = False


def issue_access_token(
    config: TokenSettings,
    *,
    user_id: str,
    role: str,
    now: datetime,
    version: int = 0,
    scope: str | None = None,
) -> str:
    claims: dict[str, Any] = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": user_id,
        "role": role,
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int((now + config.ttl_for(role)).timestamp()),
        "jti": new_id("jti"),
    }
    if scope is not None:
        claims["scope"] = scope
    return jwt.encode(claims, config.secret, algorithm=config.algorithm)


def decode_access_token(config: TokenSettings, token: str) -> Principal:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            config.secret,
            algorithms=[config.algorithm],  # only the configured one: never "none"
            audience=config.audience,
            issuer=config.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The access token has expired.", code="token_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The access token is invalid.", code="invalid_token") from exc
    sub, role, jti = claims.get("sub"), claims.get("role"), claims.get("jti")
    version = claims.get("ver", 0)  # tokens issued before versions were version 0
    if (
        not isinstance(sub, str)
        or not isinstance(role, str)
        or not isinstance(jti, str)
        or not isinstance(version, int)
        or isinstance(version, bool)
    ):
        raise Unauthorized("The access token is invalid.", code="invalid_token")
    scope = claims.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise Unauthorized("The access token is invalid.", code="invalid_token")
    return Principal(
        user_id=sub, role=role, token_id=jti, version=version, enrolment_only=scope == MFA_ENROLMENT_SCOPE
    )


def new_refresh_token() -> str:
    return "rt_" + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
