"""The engine, the declarative base and the session-per-request unit of work.

One request is one transaction: services ``flush()``, never ``commit()``;
the session dependency commits once the endpoint has returned and before the
response is sent, and rolls back on any exception.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, create_engine, event, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from cardportal.database import with_driver

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


# A pooled connection idle for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


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


def ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, only for connections that sat idle.

    ``pool_pre_ping`` costs a round trip (``SELECT 1``) on every checkout, one
    of ~10 per authorization (measured: the bench's authorize rate rose by about
    a tenth without it). A connection checked in less than a second ago is used
    as is: were its server gone meanwhile, the request fails and SQLAlchemy
    invalidates the whole pool on the disconnect error, so the next checkout
    connects afresh. An idle connection (the usual case after a database
    restart) is pinged first and replaced when the ping fails.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("checked_in_at")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another (or connects anew).
            raise DisconnectionError() from error


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
