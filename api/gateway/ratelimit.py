"""Rate limits per client IP, per user, and a tight one per IP on the credential endpoints.

Where the counters live (``RATE_LIMIT_STORAGE_URI``):

- ``database://`` (the default): the app's own PostgreSQL, table ``rate_limit_counters``,
  so every API process (``uvicorn --workers N``, several hosts) shares one budget. A hit is
  one statement, an atomic upsert-and-count of a fixed window (``_UPSERT``): no read-then-
  write race, no second round trip for ``Retry-After``.
- ``redis://host:port/db`` (or any other ``limits`` storage URI): the ``limits`` library's
  moving window in that store, shared by every process that names it (the ``redis`` client
  is a dependency).
- ``memory://``: the ``limits`` moving window in this process's memory: one process only
  (two workers would each allow the limit: 2N in total).

A storage that needs I/O is called off the event loop (``in_memory`` says when it is not
needed). Measured cost per request: docs/security.md (issue 21, finding 8).
"""

from __future__ import annotations

import logging
import math
import random
import time
from datetime import datetime
from typing import Protocol

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import String, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base
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
# `now()` is the database's clock, the same for every API process.
_UPSERT = text(
    """
    insert into rate_limit_counters as c (key, hits, expires_at)
    values (:key, 1, now() + :seconds * interval '1 second')
    on conflict (key) do update set
        hits = case when c.expires_at <= now() then 1 else c.hits + 1 end,
        expires_at = case when c.expires_at <= now() then excluded.expires_at else c.expires_at end
    returning hits, greatest(extract(epoch from c.expires_at - now()), 0)::float8
    """
)
# Expired windows are swept now and then (about one hit in SWEEP_EVERY), not by a job.
_SWEEP = text("delete from rate_limit_counters where expires_at < now() - interval '1 minute'")
SWEEP_EVERY = 1000


class _Counter(Protocol):
    def hit(self, item: RateLimitItem, namespace: str, key: str) -> int | None: ...


class _LimitsCounter:
    """The ``limits`` library's moving window in memory, Redis or another of its storages."""

    def __init__(self, storage_uri: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, item: RateLimitItem, namespace: str, key: str) -> int | None:
        if self._limiter.hit(item, namespace, key):
            return None
        stats = self._limiter.get_window_stats(item, namespace, key)
        return max(1, math.ceil(stats.reset_time - time.time()))


class _DatabaseCounter:
    """Fixed windows in PostgreSQL: one autocommitted upsert per hit, outside the request's
    transaction (a request that fails and rolls back still counted)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def hit(self, item: RateLimitItem, namespace: str, key: str) -> int | None:
        with self._engine.begin() as conn:
            row = conn.execute(
                _UPSERT, {"key": item.key_for(namespace, key), "seconds": item.get_expiry()}
            ).one()
            if random.randrange(SWEEP_EVERY) == 0:
                conn.execute(_SWEEP)
        hits: int = row[0]
        seconds_left: float = row[1]
        if hits <= item.amount:
            return None
        return max(1, math.ceil(seconds_left))


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

    def _hit(self, items: list[RateLimitItem], namespace: str, key: str) -> int | None:
        """Seconds to wait when a limit is exceeded, else None.

        An unreachable store fails open (logged, at most once a minute): `/healthz` must
        still answer with the database down, and every route that does real work needs the
        database anyway. The login lockout is in the database, not here."""
        try:
            for item in items:
                retry_after = self._counter.hit(item, namespace, key)
                if retry_after is not None:
                    return retry_after
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_error_logged >= 60:
                self._last_error_logged = now
                log.warning("rate-limit storage unavailable, not limiting: %s", type(exc).__name__)
        return None

    def retry_after_ip(self, ip: str, *, credentials: bool = False) -> int | None:
        """The general per-IP limit, then (for a password grant or a registration, which cost
        an argon2 hash each) the tight per-IP credential limit."""
        retry_after = self._hit(self.per_ip, "ip", ip)
        if retry_after is None and credentials:
            retry_after = self._hit(self.credentials_per_ip, "credentials-ip", ip)
        return retry_after

    def check_user(self, user_id: str) -> None:
        retry_after = self._hit(self.per_user, "user", user_id)
        if retry_after is not None:
            raise TooManyRequests("Too many requests for this user; retry later.", retry_after=retry_after)
