"""Passwords (argon2id), access tokens (JWT) and refresh tokens (opaque, hashed)."""

from __future__ import annotations

import hashlib
import secrets
import time
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
    return _decode(config, token)[0]


def _decode(config: TokenSettings, token: str) -> tuple[Principal, float]:
    """The token's principal and its expiry (epoch seconds), once its signature and claims
    are verified."""
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
    principal = Principal(
        user_id=sub, role=role, token_id=jti, version=version, enrolment_only=scope == MFA_ENROLMENT_SCOPE
    )
    return principal, float(claims["exp"])


class AccessTokens:
    """Verified access tokens, remembered until they expire (keyed by the whole token).

    A bearer token is checked on every request, by the gateway (to count the user's rate
    limit with the address's) and by ``api.deps.current_principal``: the signature and the
    claims are verified once per token, and a token seen again is answered from here until
    its ``exp`` (then it is decoded afresh, which refuses it as expired). Only the string that
    was verified matches; a refused token is never remembered. What the cache does not
    answer is revocation: the token's version is checked against ``api.auth.versions`` on
    every request, so a role change still revokes at once. Used from the event loop only."""

    def __init__(self, config: TokenSettings, *, max_entries: int = 10_000) -> None:
        self.config = config
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Principal, float]] = {}

    def principal(self, token: str) -> Principal:
        entry = self._entries.get(token)
        if entry is not None:
            if time.time() < entry[1]:
                return entry[0]
            del self._entries[token]
        principal, expires_at = _decode(self.config, token)
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[token] = (principal, expires_at)
        return principal


def access_tokens(state: Any) -> AccessTokens:
    """The app's ``AccessTokens`` (``app.state``), for its current token settings."""
    tokens: AccessTokens | None = getattr(state, "access_tokens", None)
    if tokens is None or tokens.config is not state.token_settings:
        tokens = AccessTokens(state.token_settings)
        state.access_tokens = tokens
    return tokens


def new_refresh_token() -> str:
    return "rt_" + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
