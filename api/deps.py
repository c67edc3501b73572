"""Annotated dependencies used as plain parameter types by the routers.

Dependencies that do no I/O are ``async def``: FastAPI runs every plain
``def`` dependency in its thread pool, and each such hop cost more than the
work itself (a py-spy profile of the authorize load showed the thread-pool
dispatch of dependencies at ~14 % of the API's GIL time). Those that touch
the database stay ``def``.

The session-per-request dependency (``SessionDep``, ``unit_of_work``) lives
with the engine in ``api.db`` and is re-exported here, so that routes take
every dependency from this module; ``api.gateway.idempotency`` imports it from
``api.db`` too, and this module imports the idempotency dependencies: imports
run one way, none at the bottom of a module or inside a function.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session, sessionmaker

from api.audit.service import Origin
from api.auth.security import Principal, access_tokens
from api.auth.versions import TokenVersions
from api.clock import Clock
from api.db import SessionDep as SessionDep
from api.db import StatementPools, make_sessionmaker
from api.db import unit_of_work as unit_of_work
from api.errors import Forbidden, Unauthorized
from api.gateway.idempotency import (
    Idempotency,
    PendingIdempotency,
    idempotency_dependency,
    pending_idempotency_dependency,
)
from api.gateway.ratelimit import RateLimiter, raise_for_user
from cardportal.settings import Settings


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def read_sessions(request: Request) -> sessionmaker[Session]:
    """Sessions for work that writes nothing, in autocommit: no ``BEGIN`` and no ``COMMIT``
    round trip around the reads (each statement sees its own snapshot). Call it on the event
    loop; the sessions themselves are used in the thread pool."""
    state = request.app.state
    factory: sessionmaker[Session] | None = getattr(state, "read_sessionmaker", None)
    if factory is None:
        factory = make_sessionmaker(state.engine.execution_options(isolation_level="AUTOCOMMIT"))
        state.read_sessionmaker = factory
    return factory


@contextmanager
def read_only_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session from ``read_sessions`` for one read-only piece of work."""
    with factory() as session:
        yield session


def loop_connections(request: Request) -> StatementPools | None:
    """The running loop's own connections (``api.db.StatementPools``), when the app's lifespan
    opened them on this loop; None elsewhere (use the thread pool and a Session)."""
    pools: StatementPools = request.app.state.statement_pools
    return pools if pools.serves_this_loop() else None


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
ClockDep = Annotated[Clock, Depends(get_clock)]


async def request_origin(request: Request) -> Origin:
    """Where the request came from, for the audit trail."""
    return Origin(
        ip=request.client.host if request.client else None,
        request_id=getattr(request.state, "request_id", None),
    )


OriginDep = Annotated[Origin, Depends(request_origin)]

_bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


async def current_principal(request: Request, token: Annotated[str | None, Depends(_bearer)]) -> Principal:
    if not token:
        raise Unauthorized("Send a bearer access token.", code="not_authenticated")
    # Verified once per token, remembered until it expires (api.auth.security.AccessTokens).
    principal = access_tokens(request.app.state).principal(token)
    # A role change or a deactivation revokes tokens already issued (api.auth.versions): from
    # this process's memory, a database read only the first time a user is seen.
    versions: TokenVersions = request.app.state.token_versions
    known = versions.cached(principal.user_id)
    if known is None:
        known = await run_in_threadpool(versions.read, principal.user_id)
    versions.verify(known, version=principal.version)
    if principal.enrolment_only and not _enrolment_path(request.url.path):
        # Production staff without a second factor (issue 21, finding 7): enrolment only.
        raise Forbidden(
            "Staff must enrol a second factor first: POST /v1/me/mfa/totp, then /v1/me/mfa/totp/confirm, "
            "then sign in again with the code.",
            code="mfa_enrolment_required",
        )
    request.state.user_id = principal.user_id
    request.state.role = principal.role
    # The gateway counted this user's limit with the address's, in one call to the store.
    counted = request.scope.get("state", {}).get("user_limit")
    if counted is not None and counted[0] == principal.user_id:
        raise_for_user(counted[1])
        return principal
    limiter: RateLimiter = request.app.state.rate_limiter
    raise_for_user((await limiter.check_async(ip=None, user_id=principal.user_id)).user_retry_after)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _enrolment_path(path: str) -> bool:
    """What an enrolment-only token may call: who am I, and the second factor's enrolment."""
    return path == "/v1/me" or path.startswith("/v1/me/mfa/")


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.", code="insufficient_role")
        return principal

    return dependency


AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
ReportsPrincipal = Annotated[Principal, Depends(require_roles("finance", "analyst", "admin"))]

_network_key = APIKeyHeader(name="X-Network-Key", auto_error=False)


async def network_caller(request: Request, key: Annotated[str | None, Depends(_network_key)]) -> str:
    expected = request.app.state.settings.secret("network_api_key")
    if not key or not hmac.compare_digest(key.encode(), expected.encode()):
        raise Unauthorized(
            "Send the card network's key in X-Network-Key.",
            code="invalid_network_key",
            headers={},
        )
    request.state.user_id = "network"
    request.state.role = "network"
    return "network"


NetworkCaller = Annotated[str, Depends(network_caller)]


async def user_scope(principal: CurrentPrincipal) -> str:
    return principal.user_id


async def anonymous_scope(request: Request) -> str:
    client = request.client.host if request.client else "unknown"
    return f"anon:{client}"


# Idempotency-Key scopes: keys belong to the caller that sent them.
AnonymousIdempotency = Annotated[
    Idempotency, Depends(idempotency_dependency(anonymous_scope, required=False))
]
UserIdempotency = Annotated[Idempotency, Depends(idempotency_dependency(user_scope, required=True))]
# The network's routes begin theirs in their own unit of work (one thread-pool hop per request).
NetworkIdempotency = Annotated[PendingIdempotency, Depends(pending_idempotency_dependency(network_caller))]
OptionalUserIdempotency = Annotated[Idempotency, Depends(idempotency_dependency(user_scope, required=False))]
