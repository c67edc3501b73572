"""The network's authorizations that arrive together, committed together.

Under load, most of PostgreSQL's work per authorization was not the authorization but its
statement and its transaction: the round trip, the transaction's start and commit, the
commit's WAL flush and the wake-ups around it (bench/README.md, issue 24: PostgreSQL's CPU per
authorization 1.0-1.2 ms one per statement, 0.60 four per statement, 0.48 eight). So on each
event loop at most ``MAX_IN_FLIGHT`` authorization statements run at once; the authorizations
that arrive meanwhile wait for the next free slot and then go together, up to ``MAX_BATCH``,
as one ``network_authorize_many`` statement: one transaction, one commit. Nothing waits on a
timer: an authorization that finds a free slot goes at once (with those that arrived in the
same turn of the loop), and one that goes alone is ``network_authorize_once``, as before; a
batch forms only while the slots are busy or requests arrive together.

What a batch changes, and what it does not:

- Each message runs ``network_authorize_once``, unchanged: its rules, its Idempotency-Key's
  lock, look-up and stored answer, its answer's bytes. Two messages with the same key never go
  in one batch (the second waits for the next one, and so sees the first's stored answer, or
  its lock, as it would have).
- Durability: the batch's commit is a normal, synchronous commit; no answer is sent before it.
- Locks: ``network_authorize_many`` first locks every receivable of the batch, then every house
  shard, each in id order, so batches never wait on each other in a cycle. A single
  authorization locks its receivable, then its house shard: the same order.
- Errors: an error in one message rolls the whole statement back. When the server answered
  with an error (a SQLSTATE: nothing was committed), each message of the batch is sent again
  on its own, so only the one at fault fails. When the connection failed (no SQLSTATE: the
  commit's outcome is unknown), every message of the batch fails as a lone one would (500; the
  network retries with its Idempotency-Key, which then replays or runs it).
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError

from api.db import StatementPools
from api.network import repository

# Authorization statements running at once per event loop. Chosen by measurement (bench
# `authorize`, bench/README.md issue 24): enough to overlap one batch's commit (its WAL flush)
# with the next batch's work, few enough that batches form under load.
MAX_IN_FLIGHT = 2
# The most authorizations in one statement (its transaction holds their rows' locks until it
# commits).
MAX_BATCH = 16

Arguments = Mapping[str, Any]
Row = dict[str, Any]


@dataclass
class _Waiting:
    arguments: Arguments
    answer: asyncio.Future[Row]


@dataclass
class _Loop:
    """One event loop's queue and its running statements."""

    waiting: deque[_Waiting] = field(default_factory=deque)
    in_flight: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class AuthorizationBatches:
    """``network_authorize_once``'s rows, for authorizations sent one by one by the routes and
    run together when they arrive together (see the module's docstring)."""

    def __init__(self, pools: StatementPools, *, max_in_flight: int = MAX_IN_FLIGHT, max_batch: int = MAX_BATCH):
        self._pools = pools
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = weakref.WeakKeyDictionary()

    async def authorize(self, arguments: Arguments) -> Row:
        """The row of ``network_authorize_once`` (``outcome``, ``status_code``, ``body``) for
        these arguments (``api.network.service``'s), once its statement has committed."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = _Loop()
        waiting = _Waiting(arguments, loop.create_future())
        state.waiting.append(waiting)
        if state.in_flight < self.max_in_flight:
            state.in_flight += 1
            # A task of its own: the statement and its commit finish even when the request
            # that started it goes away.
            task = loop.create_task(self._drain(state))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)
        return await waiting.answer

    async def _drain(self, state: _Loop) -> None:
        try:
            while state.waiting:
                await self._run(self._take(state))
        finally:
            state.in_flight -= 1

    def _take(self, state: _Loop) -> list[_Waiting]:
        """The next batch: the oldest waiting authorizations, at most one per Idempotency-Key."""
        batch: list[_Waiting] = []
        keys: set[tuple[str, str]] = set()
        skipped: list[_Waiting] = []
        while state.waiting and len(batch) < self.max_batch:
            waiting = state.waiting.popleft()
            key = waiting.arguments["key"]
            if key is not None:
                scoped = (waiting.arguments["scope"], key)
                if scoped in keys:
                    skipped.append(waiting)
                    continue
                keys.add(scoped)
            batch.append(waiting)
        state.waiting.extendleft(reversed(skipped))
        return batch

    async def _run(self, batch: list[_Waiting]) -> None:
        if len(batch) == 1:
            await self._run_alone(batch[0])
            return
        try:
            async with self._pools.connection() as connection:
                rows = await repository.network_authorize_many(connection, [w.arguments for w in batch])
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) is None:
                # The connection failed: whether the batch committed is unknown.
                for waiting in batch:
                    _fail(waiting, error)
                return
            # The server refused the statement: nothing was committed. Each on its own.
            for waiting in batch:
                await self._run_alone(waiting)
            return
        except BaseException as error:
            for waiting in batch:
                _fail(waiting, error)
            raise
        for waiting, row in zip(batch, rows, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(row)

    async def _run_alone(self, waiting: _Waiting) -> None:
        try:
            async with self._pools.connection() as connection:
                row = await repository.network_authorize_once(connection, waiting.arguments)
        except BaseException as error:
            _fail(waiting, error)
            if not isinstance(error, Exception):
                raise
            return
        if not waiting.answer.done():
            waiting.answer.set_result(row)


def _fail(waiting: _Waiting, error: BaseException) -> None:
    if not waiting.answer.done():
        if isinstance(error, asyncio.CancelledError):
            waiting.answer.cancel()
        else:
            waiting.answer.set_exception(error)


def batches_of(state: Any) -> AuthorizationBatches:
    """The app's batches (``app.state``), made on first use over its ``statement_pools``."""
    batches: AuthorizationBatches | None = getattr(state, "authorization_batches", None)
    if batches is None:
        batches = state.authorization_batches = AuthorizationBatches(state.statement_pools)
    return batches
