"""The network's messages that arrive together, committed together.

Under load, most of PostgreSQL's work per authorization was not the authorization but its
statement and its transaction: the round trip, the transaction's start and commit, the
commit's WAL flush and the wake-ups around it (bench/README.md, issue 24: PostgreSQL's CPU per
authorization 1.0-1.2 ms one per statement, 0.60 four per statement, 0.48 eight). So on each
event loop at most ``MAX_IN_FLIGHT`` authorization statements run at once (one); the
authorizations that arrive meanwhile wait for the next free slot and then go together, up to
``MAX_BATCH``, as one ``network_authorize_many`` statement: one transaction, one commit. Clears
and reversals likewise (``network_resolve_many``), in slots of their own. Nothing waits on a timer: a message
that finds a free slot goes at once (with those that arrived in the same turn of the loop), and
one that goes alone is ``network_authorize_once`` (``network_resolve_once``), as before; a
batch forms only while the slots are busy or requests arrive together.

What a batch changes, and what it does not:

- Each message runs ``network_authorize_once`` (``network_resolve_once``), unchanged: its
  rules, its Idempotency-Key's lock, look-up and stored answer, its answer's bytes. Two
  messages with the same key never go in one batch (the second waits for the next one, and so
  sees the first's stored answer, or its lock, as it would have).
- Durability: the batch's commit is a normal, synchronous commit; no answer is sent before it.
- Locks: a batch first locks what its messages will lock, each kind in id order: the
  authorizations' rows (clears and reversals), then the receivables, then the house shards. A
  single message locks in that order too (its row, its receivable, its house shard), so batches
  and single messages never wait on each other in a cycle.
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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy.exc import DBAPIError

from api.db import StatementPools
from api.network import repository

# Authorization statements running at once per event loop (clears and reversals have their
# own). Chosen by measurement (bench/README.md, issue 24, fourth round): with one, a batch
# takes everything that arrived while the previous one ran, and a worker's authorization
# batches never wait on each other's row locks. Alternating with two (same machine, 8 s
# runs): authorize 1,779-2,105 against 1,672-1,709 auth/s, PostgreSQL's CPU per message
# 0.42-0.47 against 0.50-0.51 ms; authorize+clear 704-807 against 707-757 pairs/s, 1.08-1.22
# against 1.30-1.38 ms per pair. Two won before the gateway answered the network directly,
# when the API's CPU per message was a third higher.
MAX_IN_FLIGHT = 1
# The most authorizations in one statement (its transaction holds their rows' locks until it
# commits).
MAX_BATCH = 16

Arguments = Mapping[str, Any]
Row = dict[str, Any]
One = Callable[[AsyncConnection, Arguments], Awaitable[Row]]
Many = Callable[[AsyncConnection, Sequence[Arguments]], Awaitable[list[Row]]]


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


class StatementBatches:
    """One statement's rows (``one``: ``network_authorize_once`` or ``network_resolve_once``),
    for messages sent one by one by the routes and run together (``many``) when they arrive
    together (see the module's docstring)."""

    def __init__(
        self,
        pools: StatementPools,
        one: One,
        many: Many,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._pools = pools
        self._one = one
        self._many = many
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Loop] = weakref.WeakKeyDictionary()

    async def run(self, arguments: Arguments) -> Row:
        """The row of ``one`` for these arguments (``api.network.service``'s), once its
        statement has committed."""
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
                rows = await self._many(connection, [w.arguments for w in batch])
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
                row = await self._one(connection, waiting.arguments)
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


def authorizations(pools: StatementPools, **limits: int) -> StatementBatches:
    """Authorizations: ``network_authorize_once``, together ``network_authorize_many``."""
    one, many = repository.network_authorize_once, repository.network_authorize_many
    return StatementBatches(pools, one, many, **limits)


def resolutions(pools: StatementPools, **limits: int) -> StatementBatches:
    """Clears and reversals: ``network_resolve_once``, together ``network_resolve_many``."""
    one, many = repository.network_resolve_once, repository.network_resolve_many
    return StatementBatches(pools, one, many, **limits)


@dataclass(frozen=True)
class NetworkBatches:
    """An app's batches: authorizations, and clears and reversals."""

    authorizations: StatementBatches
    resolutions: StatementBatches


def batches_of(state: Any) -> NetworkBatches:
    """The app's batches (``app.state``), made on first use over its ``statement_pools``."""
    batches: NetworkBatches | None = getattr(state, "network_batches", None)
    if batches is None:
        pools = state.statement_pools
        batches = state.network_batches = NetworkBatches(authorizations(pools), resolutions(pools))
    return batches
