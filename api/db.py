"""The engine, the declarative base and the session-per-request unit of work.

One request is one transaction: services ``flush()``, never ``commit()``;
the session dependency (``SessionDep``, re-exported by ``api.deps``) commits
once the endpoint has returned and before the response is sent, and rolls
back on any exception. It lives here, below ``api.deps`` and
``api.gateway.idempotency``, which both import it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import BigInteger, DateTime, MetaData, create_engine, func
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from api.errors import AppError
from cardportal.database import ping_when_idle, with_driver

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
