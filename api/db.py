"""The engine, the declarative base and the session-per-request unit of work.

One request is one transaction: services ``flush()``, never ``commit()``;
the session dependency (``SessionDep``, re-exported by ``api.deps``) commits
once the endpoint has returned and before the response is sent, and rolls
back on any exception. It lives here, below ``api.deps`` and
``api.gateway.idempotency``, which both import it.

The card network's hot routes (authorize, clear, reverse) are one autocommitted
statement each (``api.network.service``), run on the event loop through an
async psycopg pool (``StatementPools``) that the app's lifespan opens: no
session, no thread-pool hop, no separate commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar

import psycopg
from fastapi import Depends, Request
from psycopg import AsyncConnection, OperationalError
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import BigInteger, DateTime, MetaData, create_engine, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from api.errors import AppError
from cardportal.database import libpq_conninfo, ping_when_idle, with_driver

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), int: BigInteger}


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)


def driver_error(statement: str, params: Sequence[Any] | None, error: psycopg.Error) -> StatementError:
    """A psycopg error of a statement sent below SQLAlchemy (the network's statements, the
    ledger's function calls), as the engine raises it: SQLAlchemy's class for it
    (IntegrityError, OperationalError...), its statement, never its values (``make_engine``
    hides parameters; the gateway logs a DBAPIError without its message)."""
    return DBAPIError.instance(statement, params, error, psycopg.Error, hide_parameters=True)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Engine:
    engine = create_engine(
        with_driver(url, "psycopg"),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        # An unexpected database error is logged with its statement, never its values: those
        # can be personal data (an email, a name) or a secret (docs/security.md).
        hide_parameters=True,
    )
    ping_when_idle(engine)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def sessions_for(url: str, *, pool_size: int = 1, max_overflow: int = 10) -> sessionmaker[Session]:
    """Sessions on an engine of their own: what a process-pool worker builds for itself
    (``functools.partial(sessions_for, url)`` is picklable; see ``api.jobs.daily.init_worker``)."""
    return make_sessionmaker(make_engine(url, pool_size=pool_size, max_overflow=max_overflow))


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit when the block ends normally, roll back otherwise."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    """One request, one transaction: committed when the work returns, rolled back on an error
    (an ``AppError`` with ``keep_changes`` commits what it wrote, e.g. an audit row)."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except AppError as exc:
        if exc.keep_changes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_session(request: Request) -> Iterator[Session]:
    """The route's session; committed after the endpoint returns, before the answer."""
    with unit_of_work(request) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a
# client never sees a success whose transaction then failed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class StatementPools:
    """Autocommit async connections for one-statement units of work, one pool per event loop.

    The event loop's own connections, for the statements of the hottest paths without a
    thread-pool hop: the network's messages, a request's rate-limit counters
    (``api.gateway.ratelimit``), a customer's history page (``api.accounts``). A thread-pool
    call costs each request a hand-off to a worker thread and back; on our 2-core machines
    those hand-offs were the largest single item of an API worker's GIL time (py-spy
    ``--gil``, bench/README.md, issue 24).

    The app's lifespan opens the pool of the loop it runs on (``serving``); an app may be
    served by more than one loop (a test's ``TestClient`` and a uvicorn beside it), and a
    pool's connections belong to the loop that made them. A loop without a pool (an app used
    outside its lifespan) gets a connection of its own per unit of work (``connection``):
    slower, still right; callers that have a thread-pool path ask ``serves_this_loop`` first.
    """

    def __init__(self, url: str, *, max_size: int) -> None:
        self.conninfo = libpq_conninfo(url)
        self.max_size = max_size
        self._pools: dict[asyncio.AbstractEventLoop, AsyncConnectionPool[AsyncConnection]] = {}

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        """This loop's pool, open for the block (the app's lifespan)."""
        loop = asyncio.get_running_loop()
        pool: AsyncConnectionPool[AsyncConnection] = AsyncConnectionPool(
            self.conninfo, min_size=1, max_size=self.max_size, kwargs={"autocommit": True}, open=False
        )
        await pool.open()
        self._pools[loop] = pool
        try:
            yield
        finally:
            self._pools.pop(loop, None)
            await pool.close()

    def serves_this_loop(self) -> bool:
        """Whether the running loop has a pool (its app's lifespan runs on it)."""
        return asyncio.get_running_loop() in self._pools

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]], *, retry: bool = False) -> T:
        """``work`` on one connection. ``retry``: for reads, once more when the connection
        turns out to be gone (a pooled connection after a database restart); the pool
        discards a broken connection when it is returned."""
        for attempt in (1, 2):
            try:
                async with self.connection() as connection:
                    return await work(connection)
            except OperationalError:
                if not retry or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """An autocommit connection: each statement is its own transaction."""
        pool = self._pools.get(asyncio.get_running_loop())
        if pool is None:
            async with await AsyncConnection.connect(self.conninfo, autocommit=True) as connection:
                yield connection
            return
        async with pool.connection() as connection:
            yield connection
