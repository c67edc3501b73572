"""Rate limits per client IP and per user, with the ``limits`` library.

Memory storage by default (one API process); set ``RATE_LIMIT_STORAGE_URI``
(``redis://…``) when several API processes share the limits.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.errors import TooManyRequests


class RateLimiter:
    def __init__(self, storage_uri: str, per_ip: str, per_user: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        # Memory storage answers without I/O: callers may check it on the event loop.
        self.in_memory = storage_uri.startswith("memory://")
        self.per_ip: list[RateLimitItem] = parse_many(per_ip)
        self.per_user: list[RateLimitItem] = parse_many(per_user)

    def _hit(self, items: list[RateLimitItem], namespace: str, key: str) -> int | None:
        """Seconds to wait when a limit is exceeded, else None."""
        for item in items:
            if not self._limiter.hit(item, namespace, key):
                stats = self._limiter.get_window_stats(item, namespace, key)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None

    def retry_after_ip(self, ip: str) -> int | None:
        return self._hit(self.per_ip, "ip", ip)

    def check_user(self, user_id: str) -> None:
        retry_after = self._hit(self.per_user, "user", user_id)
        if retry_after is not None:
            raise TooManyRequests("Too many requests for this user; retry later.", retry_after=retry_after)
