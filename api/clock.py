"""The one source of "now" for the platform.

Production reads the system clock and refuses to move. The sandbox clock
(like Stripe's test clocks) is the system clock plus an offset that only
grows. With an engine, the offset lives in the one-row ``platform_clock``
table, so every process (API workers, the CLI, the simulator) shares it and
it survives restarts. A move notifies every process (``NOTIFY cardportal_clock``, with the new
offset, on the move's commit); a clock that listens (``start``: the API's, for its lifetime)
keeps its offset until told, and one that does not (or whose listener lost its connection)
re-reads it after ``cache_seconds`` (0: on every read). Before the listener, an API worker kept
an old offset for up to a second after another worker's move: with two workers, purchases made
just after a simulated day began were stamped on the day before.
Without an engine (unit tests of pure services) the offset is in memory.

Moving the clock and running what falls due on the days passed is
``api.jobs.daily.advance_clock``; this module only keeps the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import BigInteger, CheckConstraint, SmallInteger, func, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from api.db import Base
from api.errors import Forbidden, UnprocessableEntity
from api.notices import Listener


class PlatformClock(Base):
    """The sandbox clock's offset from the system clock: one row, or none (offset zero)."""

    __tablename__ = "platform_clock"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=1, autoincrement=False)
    offset_us: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint("offset_us >= 0", name="forward_only"),
    )


CHANNEL = "cardportal_clock"
_READ = text("select offset_us from platform_clock where id = 1")
# The offset only ever grows: greatest() keeps it so under concurrent moves.
_MOVE = text(
    """
    insert into platform_clock (id, offset_us, updated_at) values (1, :offset_us, now())
    on conflict (id) do update
        set offset_us = greatest(platform_clock.offset_us, excluded.offset_us), updated_at = now()
    returning offset_us
    """
)
_NOTIFY = text(f"select pg_notify('{CHANNEL}', cast(:offset_us as text))")


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Clock:
    def __init__(self, *, movable: bool = False, engine: Engine | None = None, cache_seconds: float = 1.0):
        self.movable = movable
        self._engine = engine if movable else None
        self._cache_seconds = cache_seconds
        self._offset = timedelta(0)
        self._read_at: float | None = None
        self._lock = threading.Lock()
        # A sandbox's: told of every move (``start``).
        self._listener: Listener | None = None
        if self._engine is not None:
            self._listener = Listener(self._engine, CHANNEL, self._told_of, self.forget, name="sandbox-clock")
        self._told = 0  # moves learnt (told, or made here): a read that overlapped one is stale

    def _system_now(self) -> datetime:
        return datetime.now(UTC)

    def offset(self) -> timedelta:
        if self._engine is None:
            return self._offset
        stamp = time.monotonic()
        with self._lock:
            if self._read_at is not None and self._cache_seconds > 0:
                heard = self._listener is not None and self._listener.listening
                if heard or stamp - self._read_at < self._cache_seconds:
                    return self._offset
            told = self._told
        with self._engine.connect() as connection:
            micros = connection.execute(_READ).scalar_one_or_none() or 0
        with self._lock:
            # A move told while this read ran is newer than what it read: keep the move's.
            if self._told == told:
                self._offset, self._read_at = timedelta(microseconds=micros), stamp
            return self._offset

    def _told_of(self, payload: str) -> None:
        self._learn(int(payload))

    def _learn(self, micros: int) -> None:
        """Keep the offset of a move: this process's own, or one it was told of."""
        with self._lock:
            self._offset, self._read_at = timedelta(microseconds=micros), time.monotonic()
            self._told += 1

    def now(self) -> datetime:
        """Business time: the sandbox's moved clock, or the real one in production."""
        return self._system_now() + self.offset()

    def today(self) -> date:
        return self.now().date()

    def forget(self) -> None:
        """Drop the cached offset: the next ``now()`` reads the shared one."""
        with self._lock:
            self._read_at = None

    def require_movable(self) -> None:
        if not self.movable:
            raise Forbidden("The clock of a production platform cannot be moved.", code="clock_not_movable")

    def set_offset(self, delta: timedelta, *, also: Callable[[Connection], None] | None = None) -> datetime:
        """Move the clock to ``system time + delta``; never back. The new now.

        ``also`` runs in the move's own transaction (the audit trail's row commits with it).
        """
        self.require_movable()
        if delta < timedelta(0):
            raise UnprocessableEntity("The sandbox clock only moves forward.", code="clock_backwards")
        if self._engine is None:
            with self._lock:
                self._offset = max(self._offset, delta)
            return self.now()
        with self._engine.begin() as connection:
            micros: int = connection.execute(_MOVE, {"offset_us": _micros(delta)}).scalar_one()
            connection.execute(_NOTIFY, {"offset_us": micros})  # delivered on commit
            if also is not None:
                also(connection)
        self._learn(micros)
        return self.now()

    # --- the listener: every process told of a move on its commit ---------------------------

    def start(self) -> None:
        """Listen for moves (a movable clock with an engine; else nothing to hear)."""
        if self._listener is not None:
            self._listener.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()

    def wait_listening(self, timeout: float = 5.0) -> bool:
        return self._listener is not None and self._listener.wait_listening(timeout)

    @staticmethod
    def wall_now() -> datetime:
        """Security time, never moved: token lifetimes, lockouts, rate limits.

        A token checked by a library against the real clock must be issued
        against it too, or moving the sandbox clock would sign everyone out.
        """
        return datetime.now(UTC)

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` (time only; nothing is run)."""
        self.require_movable()
        if delta < timedelta(0):
            raise UnprocessableEntity("The sandbox clock only moves forward.", code="clock_backwards")
        self.forget()
        return self.set_offset(self.offset() + delta)
