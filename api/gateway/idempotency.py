"""The ``Idempotency-Key`` mechanism (API.md), as one reusable dependency.

A route that creates a resource or moves money takes an ``Idempotency``
parameter and returns ``idem.save(status, payload)``. Everything happens in
the request's own transaction, so the business write and the stored answer
commit together or not at all:

1. ``pg_try_advisory_xact_lock`` on (caller, key): when another request with
   that key holds it, answer 409 ``idempotency_key_in_use``.
2. (In the same round trip: the database function ``idempotency_begin``.)
   A stored, unexpired answer for (caller, key): the same request fingerprint
   (method, path, body) replays it (``Idempotent-Replayed: true``); another
   fingerprint is 422 ``idempotency_key_reused``.
3. Otherwise the route runs and ``save`` stores its answer for at least
   ``IDEMPOTENCY_TTL_HOURS`` (24 by default).

Errors are not stored: a 4xx changes nothing, so a retry simply runs again.
Keys are scoped to the caller (a user id, the network, or an anonymous IP).
"""

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import JSON, String, delete, func, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from api.db import Base, SessionDep
from api.errors import BadRequest, Conflict, UnprocessableEntity

MAX_KEY_LENGTH = 255
# Stated in the OpenAPI document; a key that breaks them is a 400 invalid_idempotency_key.
_KEY_RULES: dict[str, Any] = {
    "min_length": 1,
    "max_length": MAX_KEY_LENGTH,
    "pattern": r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$",
}

T = TypeVar("T")


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    # json, not jsonb: a replay returns the same bytes in the same key order.
    response_body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(index=True)


def lock_id(scope: str, key: str) -> int:
    """The advisory lock of (caller, key): the same number wherever the key is begun."""
    return int.from_bytes(
        hashlib.blake2b(f"{scope}\x00{key}".encode(), digest_size=8).digest(), "big", signed=True
    )


def key_in_use() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still being processed; retry later.",
        code="idempotency_key_in_use",
    )


def key_reused() -> UnprocessableEntity:
    return UnprocessableEntity(
        "This Idempotency-Key was already used with a different request.",
        code="idempotency_key_reused",
    )


class IdempotentReplay(Exception):
    """Raised to answer with a stored response instead of running the route."""

    def __init__(self, status_code: int, body: Any) -> None:
        self.status_code = status_code
        self.body = body


class Idempotency:
    """The idempotency context of one request (``key`` is None when none was sent)."""

    def __init__(
        self, session: Session, *, scope: str, key: str | None, fingerprint: str, ttl: timedelta
    ) -> None:
        self.session = session
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
        self.ttl = ttl

    def begin(self) -> None:
        if self.key is None:
            return
        # The lock and the look-up of a stored answer in one round trip (migration 0007).
        row = self.session.execute(
            _BEGIN, {"scope": self.scope, "key": self.key, "lock": lock_id(self.scope, self.key)}
        ).one()
        acquired: bool = row[0]
        fingerprint: str | None = row[1]
        status_code: int = row[2]
        body: Any = row[3]
        if not acquired:
            raise key_in_use()
        if fingerprint is None:
            return
        if fingerprint != self.fingerprint:
            raise key_reused()
        raise IdempotentReplay(status_code, body)

    def save(self, status_code: int, payload: T) -> T:
        """Store the answer beside the request's writes; return it unchanged."""
        if self.key is None:
            return payload
        if isinstance(payload, BaseModel):
            body = payload.model_dump_json()
        else:
            body = json.dumps(jsonable_encoder(payload), separators=(",", ":"))
        self.session.execute(
            _SAVE,
            {
                "scope": self.scope,
                "key": self.key,
                "fingerprint": self.fingerprint,
                "status_code": status_code,
                "body": body,
                "ttl": self.ttl,
            },
        )
        return payload


_BEGIN = text(
    "select acquired, fingerprint, status_code, response_body from idempotency_begin(:scope, :key, :lock)"
)
# An expired row with the same key is replaced, never a live one (begin() saw none).
_SAVE = text(
    """
    insert into idempotency_keys as k
        (scope, key, fingerprint, status_code, response_body, created_at, expires_at)
    values (:scope, :key, :fingerprint, :status_code, cast(:body as json), now(), now() + :ttl)
    on conflict (scope, key) do update set
        fingerprint = excluded.fingerprint, status_code = excluded.status_code,
        response_body = excluded.response_body, created_at = excluded.created_at,
        expires_at = excluded.expires_at
    """
)


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= func.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def request_fingerprint(request: Request) -> str:
    body = await request.body()
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\x00")
    digest.update(request.url.path.encode())
    digest.update(b"\x00")
    digest.update(body)
    return digest.hexdigest()


class PendingIdempotency:
    """An Idempotency-Key checked but not begun: for routes that open their own transaction.

    The network's routes begin it in their own unit of work: a refund in its
    thread-pool call (``api.db.unit_of_work``) with ``begin``; an authorization, a
    clear or a reverse in the one statement that also does the work and stores
    the answer (``statement_arguments``). Their idempotency dependency does no
    I/O, so FastAPI runs it on the event loop.
    """

    def __init__(self, *, scope: str, key: str | None, fingerprint: str, ttl: timedelta) -> None:
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
        self.ttl = ttl

    def statement_arguments(self) -> dict[str, Any]:
        """The key's arguments of the one-statement database functions that begin it, run the
        work and store its answer (``network_authorize_once``, ``network_resolve_once``):
        ``scope``, ``key`` (None: no key), ``lock``, ``fingerprint``, ``ttl``."""
        return {
            "scope": self.scope,
            "key": self.key,
            "lock": None if self.key is None else lock_id(self.scope, self.key),
            "fingerprint": self.fingerprint,
            "ttl": self.ttl,
        }

    def begin(self, session: Session) -> Idempotency:
        idem = Idempotency(
            session, scope=self.scope, key=self.key, fingerprint=self.fingerprint, ttl=self.ttl
        )
        idem.begin()
        return idem


def _pending(
    request: Request, fingerprint: str, scope: str, key: str | None, *, required: bool
) -> PendingIdempotency:
    if key is not None:
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise BadRequest(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
                code="invalid_idempotency_key",
            )
    elif required:
        raise BadRequest(
            "This request moves money or creates a resource: send an Idempotency-Key header.",
            code="idempotency_key_required",
        )
    ttl = timedelta(hours=request.app.state.settings.idempotency_ttl_hours)
    return PendingIdempotency(scope=scope, key=key, fingerprint=fingerprint, ttl=ttl)


_DESCRIPTION = (
    "Replays the first answer for the same key and body (24 hours); "
    f"1 to {MAX_KEY_LENGTH} printable characters, scoped to the caller."
)


def idempotency_dependency(scope_of: Callable[..., str], *, required: bool) -> Callable[..., Idempotency]:
    """Build a dependency: ``scope_of`` is a dependency that names the caller."""
    # The key is declared as a header parameter so that the OpenAPI document says
    # whether it is required; a missing required key is a 400 idempotency_key_required
    # (see the validation handler in api/errors.py).
    if required:

        def dependency(
            request: Request,
            session: SessionDep,
            fingerprint: Annotated[str, Depends(request_fingerprint)],
            scope: Annotated[str, Depends(scope_of)],
            key: Annotated[str, Header(alias="Idempotency-Key", description=_DESCRIPTION, **_KEY_RULES)],
        ) -> Idempotency:
            return _pending(request, fingerprint, scope, key, required=True).begin(session)

        return dependency

    def optional_dependency(
        request: Request,
        session: SessionDep,
        fingerprint: Annotated[str, Depends(request_fingerprint)],
        scope: Annotated[str, Depends(scope_of)],
        key: Annotated[
            str | None, Header(alias="Idempotency-Key", description=_DESCRIPTION, **_KEY_RULES)
        ] = None,
    ) -> Idempotency:
        return _pending(request, fingerprint, scope, key, required=False).begin(session)

    return optional_dependency


_KEY_PATTERN = re.compile(_KEY_RULES["pattern"])


def pending_of_request(request: Request, fingerprint: str, scope: str) -> PendingIdempotency | None:
    """The optional key as ``pending_idempotency_dependency`` takes it, for a route that reads
    its request below FastAPI's dependency system (``api.network.lean``). None when the header
    breaks the rules the dependency declares (sent twice, empty, too long, not printable): the
    dependency answers those. Raises what the dependency raises otherwise."""
    keys = request.headers.getlist("idempotency-key")
    if not keys:
        return _pending(request, fingerprint, scope, None, required=False)
    if len(keys) > 1 or not 1 <= len(keys[0]) <= MAX_KEY_LENGTH or not _KEY_PATTERN.fullmatch(keys[0]):
        return None
    return _pending(request, fingerprint, scope, keys[0], required=False)


def pending_idempotency_dependency(scope_of: Callable[..., Any]) -> Callable[..., Any]:
    """An optional Idempotency-Key, checked on the event loop and begun later by the route."""

    async def dependency(
        request: Request,
        fingerprint: Annotated[str, Depends(request_fingerprint)],
        scope: Annotated[str, Depends(scope_of)],
        key: Annotated[
            str | None, Header(alias="Idempotency-Key", description=_DESCRIPTION, **_KEY_RULES)
        ] = None,
    ) -> PendingIdempotency:
        return _pending(request, fingerprint, scope, key, required=False)

    return dependency
