"""Rate limits per client IP, per user, and a tight one per IP on the credential endpoints.

Where the counters live (``RATE_LIMIT_STORAGE_URI``):

- ``database://`` (the default): the app's own PostgreSQL, table ``rate_limit_counters``,
  so every API process (``uvicorn --workers N``, several hosts) shares one budget. All the
  counters a request hits (per IP, per credential IP, per user) are one autocommitted
  statement, an atomic upsert-and-count of fixed windows (``_UPSERT``): one round trip, no
  ``BEGIN``/``COMMIT`` around it, no read-then-write race, no second round trip for
  ``Retry-After``; a counter row is locked only while that statement runs (a user's hot
  row, hit by every request of that user, is never held across a round trip).
- ``redis://host:port/db`` (or any other ``limits`` storage URI): the ``limits`` library's
  moving window in that store, shared by every process that names it (the ``redis`` client
  is a dependency).
- ``memory://``: the ``limits`` moving window in this process's memory: one process only
  (two workers would each allow the limit: 2N in total).

A storage that needs I/O is called off the event loop (``in_memory`` says when it is not
needed). The gateway (``api.gateway.middleware``) checks a request's per-IP and per-user
limits together, once it has verified the bearer token (``RateLimiter.check``); the
per-user dependency (``api.deps.current_principal``) then only reads that verdict, and hits
the user's counter itself only when the gateway could not (no bearer header). Measured
cost per request: docs/security.md (issue 21, finding 8).
"""

from __future__ import annotations

import functools
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import anyio.to_thread
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from psycopg import AsyncConnection
from sqlalchemy import String, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base, StatementPools
from api.errors import TooManyRequests

log = logging.getLogger("cardportal.gateway")

DATABASE_STORAGE = "database://"


class RateLimitCounter(Base):
    """One fixed window's hits for one limit and caller (``limits``' key: namespace, caller,
    limit). UNLOGGED: no WAL for a counter; a crash or a fail-over forgets the current
    windows, which only lets a caller start a window afresh."""

    __tablename__ = "rate_limit_counters"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int]
    expires_at: Mapped[datetime]


# One fixed window per key: a row whose window has run out starts over at this hit's amount.
# `now()` is the database's clock, the same for every API process. Several keys in one
# statement, in key order (two requests locking the same rows lock them in the same order).
_UPSERT_SQL = """
    insert into rate_limit_counters as c (key, hits, expires_at)
    select hit.key, 1, now() + hit.seconds * interval '1 second'
    from unnest(cast({keys} as varchar[]), cast({seconds} as float8[])) as hit (key, seconds)
    order by hit.key
    on conflict (key) do update set
        hits = case when c.expires_at <= now() then 1 else c.hits + 1 end,
        expires_at = case when c.expires_at <= now() then excluded.expires_at else c.expires_at end
    returning c.key, c.hits, greatest(extract(epoch from c.expires_at - now()), 0)::float8
"""
_UPSERT = text(_UPSERT_SQL.format(keys=":keys", seconds=":seconds"))
_UPSERT_PSYCOPG = _UPSERT_SQL.format(keys="%(keys)s", seconds="%(seconds)s")
# Expired windows are swept now and then (about one hit in SWEEP_EVERY), not by a job.
_SWEEP_SQL = "delete from rate_limit_counters where expires_at < now() - interval '1 minute'"
_SWEEP = text(_SWEEP_SQL)
SWEEP_EVERY = 1000


# One counter to hit: its limit, namespace ("ip", "credentials-ip", "user") and caller.
Hit = tuple[RateLimitItem, str, str]


class _Counter(Protocol):
    def hit(self, hits: Sequence[Hit]) -> list[int | None]:
        """Count one hit on each; per hit, the seconds to wait when over its limit, else None."""
        ...


class _LimitsCounter:
    """The ``limits`` library's moving window in memory, Redis or another of its storages."""

    def __init__(self, storage_uri: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, hits: Sequence[Hit]) -> list[int | None]:
        return [self._hit_one(item, namespace, key) for item, namespace, key in hits]

    def _hit_one(self, item: RateLimitItem, namespace: str, key: str) -> int | None:
        if self._limiter.hit(item, namespace, key):
            return None
        stats = self._limiter.get_window_stats(item, namespace, key)
        return max(1, math.ceil(stats.reset_time - time.time()))


class _DatabaseCounter:
    """Fixed windows in PostgreSQL: one autocommitted upsert of every counter of a request,
    outside the request's transaction (a request that fails and rolls back still counted)."""

    def __init__(self, engine: Engine) -> None:
        # AUTOCOMMIT is the driver connection's own flag: setting and resetting it on the
        # pooled connection costs no round trip.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    def hit(self, hits: Sequence[Hit]) -> list[int | None]:
        keys = _keys(hits)
        with self._engine.connect() as conn:
            rows = conn.execute(_UPSERT, {"keys": keys, "seconds": _seconds(hits)}).all()
            if random.randrange(SWEEP_EVERY) == 0:
                conn.execute(_SWEEP)
        return _answers(hits, keys, [tuple(row) for row in rows])


async def _upsert_on(conn: AsyncConnection, hits: Sequence[Hit]) -> list[int | None]:
    """The counters' upsert on one of the loop's own connections (``api.db.StatementPools``)."""
    keys = _keys(hits)
    cursor = await conn.execute(_UPSERT_PSYCOPG, {"keys": keys, "seconds": _seconds(hits)})
    rows = await cursor.fetchall()
    if random.randrange(SWEEP_EVERY) == 0:
        await conn.execute(_SWEEP_SQL)
    return _answers(hits, keys, rows)


def _keys(hits: Sequence[Hit]) -> list[str]:
    return [item.key_for(namespace, key) for item, namespace, key in hits]


def _seconds(hits: Sequence[Hit]) -> list[float]:
    return [float(item.get_expiry()) for item, _, _ in hits]


def _answers(hits: Sequence[Hit], keys: list[str], rows: Sequence[tuple[Any, ...]]) -> list[int | None]:
    """Per hit, from the upsert's rows (key, hits, seconds left): the seconds to wait, or None."""
    counted = {row[0]: (int(row[1]), float(row[2])) for row in rows}
    out: list[int | None] = []
    for (item, _, _), key in zip(hits, keys, strict=True):
        count, seconds_left = counted[key]
        out.append(None if count <= item.amount else max(1, math.ceil(seconds_left)))
    return out


@dataclass(frozen=True)
class Verdict:
    """A request's limits: seconds to wait for its address (per IP or per credential IP) and
    for its user, or None where within the limit (or not checked)."""

    ip_retry_after: int | None = None
    user_retry_after: int | None = None


class RateLimiter:
    def __init__(
        self,
        storage_uri: str,
        per_ip: str,
        per_user: str,
        credentials_per_ip: str = "10/minute",
        *,
        engine: Engine | None = None,
    ) -> None:
        self._counter: _Counter
        if storage_uri.startswith(DATABASE_STORAGE):
            if engine is None:
                raise ValueError("the database rate-limit storage needs the app's engine")
            self._counter = _DatabaseCounter(engine)
        else:
            self._counter = _LimitsCounter(storage_uri)
        # Memory storage answers without I/O: callers may check it on the event loop.
        self.in_memory = storage_uri.startswith("memory://")
        self.per_ip: list[RateLimitItem] = parse_many(per_ip)
        self.per_user: list[RateLimitItem] = parse_many(per_user)
        self.credentials_per_ip: list[RateLimitItem] = parse_many(credentials_per_ip)
        self._last_error_logged = -math.inf
        self._statement_pools: StatementPools | None = None

    # --- the event loop's own connections (database storage) ----------------------------------

    def use(self, statement_pools: StatementPools) -> None:
        """Count on the event loops' own connections of the app's database (``api.db``):
        ``check_async`` then needs no thread-pool hop on a loop the app's lifespan serves. On
        another loop, or for another storage, ``check_async`` runs ``check`` in the thread pool."""
        if isinstance(self._counter, _DatabaseCounter):
            self._statement_pools = statement_pools

    # --- the checks ------------------------------------------------------------------------------

    def _storage_unavailable(self, exc: BaseException) -> None:
        """An unreachable store fails open (logged, at most once a minute): `/healthz` must
        still answer with the database down, and every route that does real work needs the
        database anyway. The login lockout is in the database, not here."""
        now = time.monotonic()
        if now - self._last_error_logged >= 60:
            self._last_error_logged = now
            log.warning("rate-limit storage unavailable, not limiting: %s", type(exc).__name__)

    def _hit(self, hits: list[Hit]) -> list[int | None]:
        """Per hit, the seconds to wait when its limit is exceeded, else None."""
        if not hits:
            return []
        try:
            return self._counter.hit(hits)
        except Exception as exc:
            self._storage_unavailable(exc)
        return [None] * len(hits)

    def _hits(self, ip: str | None, credentials: bool, user_id: str | None) -> list[Hit]:
        hits: list[Hit] = []
        if ip is not None:
            hits += [(item, "ip", ip) for item in self.per_ip]
            if credentials:
                hits += [(item, "credentials-ip", ip) for item in self.credentials_per_ip]
        if user_id is not None:
            hits += [(item, "user", user_id) for item in self.per_user]
        return hits

    def check(self, *, ip: str | None, credentials: bool = False, user_id: str | None = None) -> Verdict:
        """Count this request once on each of its counters, in one call to the store (one
        round trip for the database): the general per-IP limit, the tight per-IP credential
        limit (for a password grant or a registration, which cost an argon2 hash each) and the
        per-user limit. ``ip`` None: the address is exempt; ``user_id`` None: no user known.
        Blocking I/O (but for ``memory://``): from a thread, or ``check_async``."""
        hits = self._hits(ip, credentials, user_id)
        return _verdict(hits, self._hit(hits))

    async def check_async(
        self, *, ip: str | None, credentials: bool = False, user_id: str | None = None
    ) -> Verdict:
        """``check`` for the event loop: in memory at once, on the loop's own connections
        (``use``) when the running loop has them, else in the thread pool."""
        if self.in_memory:
            return self.check(ip=ip, credentials=credentials, user_id=user_id)
        connections = self._statement_pools
        if connections is None or not connections.serves_this_loop():
            return await anyio.to_thread.run_sync(
                functools.partial(self.check, ip=ip, credentials=credentials, user_id=user_id)
            )
        hits = self._hits(ip, credentials, user_id)
        if not hits:
            return Verdict()
        try:
            answers = await connections.run(functools.partial(_upsert_on, hits=hits))
        except Exception as exc:
            self._storage_unavailable(exc)
            answers = [None] * len(hits)
        return _verdict(hits, answers)


def raise_for_user(retry_after: int | None) -> None:
    if retry_after is not None:
        raise TooManyRequests("Too many requests for this user; retry later.", retry_after=retry_after)


def _verdict(hits: list[Hit], answers: list[int | None]) -> Verdict:
    ip_answers = [a for (_, namespace, _), a in zip(hits, answers, strict=True) if namespace != "user"]
    user_answers = [a for (_, namespace, _), a in zip(hits, answers, strict=True) if namespace == "user"]
    return Verdict(_first(ip_answers), _first(user_answers))


def _first(answers: list[int | None]) -> int | None:
    return next((a for a in answers if a is not None), None)
