"""A process told of changes other processes commit: ``LISTEN`` on a thread of its own.

PostgreSQL delivers a ``NOTIFY`` when, and only if, its transaction commits. A cache that must not
outlive a change made elsewhere (the token versions, ``api.auth.versions``; the sandbox clock,
``api.clock``) keeps a :class:`Listener`: on its own autocommit connection it listens on one
channel and hands each notice's payload to the cache. While it is down (before the first
connection, or after one is lost, until it is back) ``listening`` is false, and the cache falls
back to expiring what it holds; on each (re)connection ``on_listening`` runs first, since a
change made while nobody listened was not heard.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import Engine

log = logging.getLogger("cardportal.notices")


class Listener:
    def __init__(
        self,
        engine: Engine,
        channel: str,
        on_notice: Callable[[str], None],
        on_listening: Callable[[], None],
        *,
        name: str,
    ) -> None:
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._channel = channel
        self._on_notice = on_notice
        self._on_listening = on_listening
        self._name = name
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._listen, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait_listening(self, timeout: float = 5.0) -> bool:
        return self._listening.wait(timeout)

    def _listen(self) -> None:
        # Down since the last failure: one warning (with its cause) per outage, not one a second.
        down = False
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as conn:
                    conn.execute(f"listen {self._channel}")
                    self._on_listening()
                    self._listening.set()
                    if down:
                        log.warning("%s: listening again", self._name)
                        down = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._on_notice(note.payload)
            except Exception:  # the connection is gone: the cache falls back; retry
                if not down:
                    log.warning(
                        "%s: listener lost its connection; retrying each second", self._name, exc_info=True
                    )
                    down = True
                else:
                    log.debug("%s: still not listening", self._name, exc_info=True)
            finally:
                self._listening.clear()
            self._stop.wait(1.0)
