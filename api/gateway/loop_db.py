"""A few database connections of the event loop itself, for the hottest statements.

A thread-pool call costs each request a hop to a worker thread and back; on our 2-core
machines the hand-offs (a queue put that wakes a thread, ``call_soon_threadsafe`` back)
were the largest single item of an API worker's GIL time under the history page's load
(py-spy ``--gil``). The statements every request of a hot path runs (the rate-limit upsert,
a customer's first history page) run on these instead: psycopg's async connections,
autocommitted, awaited on the loop.

The app's lifespan opens them on its loop (``api.deps.open_loop_resources``); code that
finds none for the running loop (no lifespan: a ``TestClient`` outside ``with``; another
loop) keeps the engine and the thread pool. At most ``size`` connections, opened on demand
(a refused connection fails at once, as the engine's does); a connection is closed when a
statement on it fails or is interrupted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus

T = TypeVar("T")
AsyncConnection = psycopg.AsyncConnection[Any]


class LoopConnections:
    def __init__(self, conninfo: str, *, size: int) -> None:
        self.loop = asyncio.get_running_loop()
        self._conninfo = conninfo
        self._slots = asyncio.Semaphore(size)
        self._idle: list[AsyncConnection] = []

    def on_this_loop(self) -> bool:
        return self.loop is asyncio.get_running_loop()

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]], *, retry: bool = False) -> T:
        """``work`` on one of the connections. ``retry``: for reads, once more on a fresh
        connection when a reused one turns out to be gone (e.g. after a database restart)."""
        async with self._slots:
            for attempt in (1, 2):
                reused = bool(self._idle)
                conn = (
                    self._idle.pop()
                    if reused
                    else await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                )
                try:
                    result = await work(conn)
                except psycopg.OperationalError:
                    await conn.close()
                    if retry and reused and attempt == 1:
                        continue
                    raise
                except BaseException:
                    # An answer the caller refused (its own exception) leaves the connection
                    # idle and usable; anything mid-statement (a cancellation) does not.
                    if conn.closed or conn.info.transaction_status != TransactionStatus.IDLE:
                        await conn.close()
                    else:
                        self._idle.append(conn)
                    raise
                self._idle.append(conn)
                return result
        raise AssertionError("unreachable")

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()
