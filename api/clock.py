"""The one source of "now" for the platform.

Production reads the system clock. The sandbox clock (like Stripe's test
clocks) can be moved forward, never back; its persistence and the daily
job it drives arrive with billing.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from api.errors import Conflict


class Clock:
    def __init__(self, *, movable: bool = False) -> None:
        self.movable = movable
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Business time: the sandbox's moved clock, or the real one in production."""
        return datetime.now(UTC) + self._offset

    @staticmethod
    def wall_now() -> datetime:
        """Security time, never moved: token lifetimes, lockouts, rate limits.

        A token checked by a library against the real clock must be issued
        against it too, or moving the sandbox clock would sign everyone out.
        """
        return datetime.now(UTC)

    def advance(self, delta: timedelta) -> datetime:
        if not self.movable:
            raise Conflict("The clock of a production platform cannot be moved.", code="clock_not_movable")
        if delta < timedelta(0):
            raise Conflict("The sandbox clock only moves forward.", code="clock_backwards")
        with self._lock:
            self._offset += delta
        return self.now()
