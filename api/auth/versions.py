"""Token versions: a role change, a deactivation or a revocation takes effect at once.

Every access token carries its user's ``token_version`` (claim ``ver``). Changing a user's
role, deactivating them, or confirming or resetting their second factor (api.auth.mfa) bumps
the version (and revokes their refresh tokens) in the same
transaction, which also sends ``NOTIFY cardportal_auth, '<user id>'``: PostgreSQL delivers it
when, and only if, the change commits.

Checking a token must not cost a request a database round trip (the hot paths: the history
page, ``/v1/me``). Each API process keeps the users it has seen in :class:`TokenVersions`
(user id -> version, role, active): a miss reads the row once; a listener thread on its own
connection ``LISTEN``s on the channel and drops the user named by each notification, so the
next request of that user reads the new row. The process that made the change drops it at
once, before the commit returns; the others within the notification's delivery (milliseconds).
Should the listener's connection be lost, entries expire after ``fallback_seconds`` until it
is back: never longer than that is an old token honoured.

A token whose ``ver`` is not the user's current one, or whose user is inactive or gone, is
401 ``token_revoked``.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.auth.models import User
from api.errors import Unauthorized
from api.notices import Listener

CHANNEL = "cardportal_auth"


@dataclass(frozen=True)
class UserVersion:
    version: int
    role: str
    active: bool
    read_at: float


# Every cache of this process: the one that commits a change drops the user at once, on its
# own commit, before the next request can read the cache (the listener hears it soon after).
_CACHES: weakref.WeakSet[TokenVersions] = weakref.WeakSet()
_CHANGED = "token_versions_changed"


def notify_changed(session: Session, user_id: str) -> None:
    """Tell every API process, on commit, that this user's tokens changed."""
    session.execute(text("select pg_notify(:channel, :user_id)"), {"channel": CHANNEL, "user_id": user_id})
    session.info.setdefault(_CHANGED, set()).add(user_id)


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    for user_id in session.info.pop(_CHANGED, ()):
        for cache in list(_CACHES):
            cache.forget(user_id)


@event.listens_for(Session, "after_rollback")
def _nothing_changed(session: Session) -> None:
    session.info.pop(_CHANGED, None)


class TokenVersions:
    """The per-process cache of users' token versions, kept fresh by ``LISTEN``."""

    def __init__(self, engine: Engine, *, fallback_seconds: float = 5.0) -> None:
        self._engine = engine
        self._fallback_seconds = fallback_seconds
        self._entries: dict[str, UserVersion] = {}
        self._lock = threading.Lock()
        self._listener = Listener(
            engine, CHANNEL, lambda user_id: self.forget(user_id or None), self.forget, name="token-versions"
        )
        self.reads = 0  # rows read from the database (a miss): for tests and the benchmark
        _CACHES.add(self)

    # --- the check -----------------------------------------------------------------------------

    def cached(self, user_id: str) -> UserVersion | None:
        entry = self._entries.get(user_id)
        if entry is None:
            return None
        if not self._listener.listening and time.monotonic() - entry.read_at > self._fallback_seconds:
            return None
        return entry

    def read(self, user_id: str) -> UserVersion | None:
        """The user's row, read from the database and remembered (None: no such user)."""
        with Session(self._engine) as session:
            row = session.execute(
                select(User.token_version, User.role, User.is_active).where(User.id == user_id)
            ).one_or_none()
        self.reads += 1
        if row is None:
            return None
        entry = UserVersion(int(row[0]), str(row[1]), bool(row[2]), time.monotonic())
        with self._lock:
            self._entries[user_id] = entry
        return entry

    def verify(self, entry: UserVersion | None, *, version: int) -> UserVersion:
        if entry is None or not entry.active or entry.version != version:
            raise Unauthorized(
                "This access token was revoked (the account's role, status or second factor "
                "changed); sign in again.",
                code="token_revoked",
            )
        return entry

    def forget(self, user_id: str | None = None) -> None:
        with self._lock:
            if user_id is None:
                self._entries.clear()
            else:
                self._entries.pop(user_id, None)

    # --- the listener --------------------------------------------------------------------------

    def start(self) -> None:
        self._listener.start()

    def stop(self) -> None:
        self._listener.stop()

    def wait_listening(self, timeout: float = 5.0) -> bool:
        return self._listener.wait_listening(timeout)
