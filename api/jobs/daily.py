"""The daily job: every business day run once, in order, after it has ended.

One business day ``D``:

1. expire holds older than seven days (``api.network.service.expire_holds``);
2-6. each account with work, in its own transaction under its ledger lock
   (``api.billing.service.process_account_day``: interest, the statement, late fees,
   delinquency, charge-off), or all at once for the delinquent accounts where only time
   passed (``api.billing.service.carry_unchanged_delinquencies``);
7. the payments steps (``api.payments.daily``): autopay on the due date minus 2 days, then
   the day's reconciliation.

One failing account never holds back the others. Days are run in order: a gap is caught
up, oldest day first. Each day's run is recorded in ``billing_runs``.

This module sits above billing and payments: it imports both, and neither imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import stripe
from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.billing import repository
from api.billing import service as billing
from api.billing.models import BillingFailure, BillingRun
from api.billing.service import day_end, day_start
from api.clock import Clock
from api.errors import UnprocessableEntity
from api.ids import new_id
from api.ledger import service as ledger
from api.network import service as network
from api.payments import daily as payments_daily
from api.payments import gateway

log = logging.getLogger("cardportal.billing")

MAX_ADVANCE_DAYS = 400
_JOB_LOCK = 5_150_001  # pg advisory lock: one clock move or catch-up at a time


@dataclass
class RunSummary:
    day: date
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any] = field(default_factory=dict)
    already_run: bool = False


def _summary(run: BillingRun, *, already_run: bool = False) -> RunSummary:
    return RunSummary(run.day, run.started_at, run.finished_at, dict(run.counts), already_run)


def run_day(
    session_factory: sessionmaker[Session],
    clock: Clock,
    day: date,
    *,
    force: bool = False,
    stripe_client: stripe.StripeClient | None = None,
    workers: int = 1,
    processes: Executor | None = None,
) -> RunSummary:
    """Run the daily job for ``day`` (which must be over). A day already run is left as it is
    unless ``force``, and even then nothing changes: each step is idempotent.

    ``workers`` > 1 runs the accounts' steps in that many threads (a bulk load's setting: the
    simulator's ``--bulk``). An account goes to the thread of its house-account shard
    (``ledger.house``), so two threads never write the same house row: they neither wait on
    each other nor deadlock; each account is still its own transaction. With ``processes``
    (a process pool started with :func:`init_worker`) the ``workers`` groups run in those
    processes instead: the steps are Python-bound, and threads share one interpreter lock.

    After the accounts, the payments steps (``api.payments.daily``): autopay on the due date
    minus 2 days, then the day's reconciliation, with ``stripe_client`` (default: the one the
    process configured in ``api.payments.gateway``; none, and they are skipped)."""
    if day >= clock.today():
        raise UnprocessableEntity(
            f"{day} is not over yet; the job runs a day once it has ended.", code="day_not_over"
        )
    with session_factory() as session:
        run = repository.run_of_day(session, day)
        if run is not None and run.finished_at is not None and not force:
            return _summary(run, already_run=True)
        if run is None:
            run = BillingRun(id=new_id("brun"), day=day, started_at=clock.now(), counts={})
            session.add(run)
        else:
            run.started_at, run.finished_at = clock.now(), None
        session.commit()
        run_id = run.id

    counts: dict[str, Any] = dict.fromkeys(
        (
            "holds_expired",
            "accounts",
            "statements",
            "interest_charges",
            "late_fees",
            "delinquent",
            "charged_off",
        ),
        0,
    )
    failed: list[str] = []
    while True:  # 1. holds, in batches, each its own transaction
        with session_factory() as session:
            expired = network.expire_holds(session, now=day_end(day), limit=500)
            session.commit()
        counts["holds_expired"] += expired
        if expired < 500:
            break
    with session_factory() as session:  # 5, for the accounts where only time passed
        carried = billing.carry_unchanged_delinquencies(session, day)
        session.commit()
    counts["accounts"] += len(carried)
    counts["delinquent"] += len(carried)
    # Accounts that failed on an earlier day first, oldest day first: no cycle is ever skipped.
    retry = retry_failures(session_factory, before=day)
    counts["retried"], counts["recovered"] = retry.retried, retry.recovered
    for account_id in retry.still_failing:  # kept in order: this day waits for the earlier ones
        _record_failure(session_factory, account_id, day, "an earlier day of this account is still failing")
    with session_factory() as session:
        account_ids = [
            a
            for a in repository.accounts_with_work(session, day, day_start=day_start(day))
            if a not in carried and a not in retry.still_failing
        ]

    groups = _by_house_shard(account_ids, workers)
    keys = list(counts)
    if processes is not None:
        results = list(processes.map(_process_in_worker, groups, [day] * len(groups), [keys] * len(groups)))
    elif len(groups) == 1:
        results = [_process_accounts(session_factory, groups[0], day, keys)]
    else:
        with ThreadPoolExecutor(len(groups)) as pool:
            results = list(pool.map(partial(_process_accounts, session_factory, day=day, keys=keys), groups))
    for done, lost in results:
        for key, value in done.items():
            counts[key] += value
        failed.extend(lost)
    counts.update(
        payments_daily.run_payments_day(
            session_factory,
            day,
            autopay_at=day_end(day),
            now=clock.now(),
            client=stripe_client or gateway.configured_client(),
        )
    )
    failed.extend(sorted(retry.still_failing))
    counts["failed"] = len(failed)
    if failed:
        counts["failed_accounts"] = failed[:100]
    with session_factory() as session:
        run = session.get_one(BillingRun, run_id)
        run.counts = counts
        run.finished_at = clock.now()
        session.commit()
        return _summary(run)


def _process_accounts(
    session_factory: sessionmaker[Session], group: Sequence[str], day: date, keys: Sequence[str]
) -> tuple[dict[str, int], list[str]]:
    """Steps 2-6 for each of ``group``, one transaction per account: the counts (``keys``) and
    the accounts that failed."""
    done: dict[str, int] = dict.fromkeys(keys, 0)
    lost: list[str] = []
    for account_id in group:
        try:
            with session_factory() as session:
                for key, value in billing.process_account_day(session, account_id, day).items():
                    done[key] += value
                session.commit()
            done["accounts"] += 1
        except Exception as exc:
            log.exception("billing day %s failed for account %s", day, account_id)
            _record_failure(session_factory, account_id, day, repr(exc))
            lost.append(account_id)
    return done, lost


def _record_failure(session_factory: sessionmaker[Session], account_id: str, day: date, error: str) -> None:
    """Record (or count again) that ``account_id`` failed on ``day``, in a transaction of its own."""
    with session_factory() as session:
        session.execute(
            insert(BillingFailure)
            .values(
                account_id=account_id,
                day=day,
                error=error[:2000],
                first_failed_at=func.now(),
                last_failed_at=func.now(),
            )
            .on_conflict_do_update(
                index_elements=[BillingFailure.account_id, BillingFailure.day],
                set_={
                    "error": error[:2000],
                    "attempts": BillingFailure.attempts + 1,
                    "last_failed_at": func.now(),
                    "resolved_at": None,
                },
            )
        )
        session.commit()


@dataclass(frozen=True)
class Retry:
    retried: int
    recovered: int
    still_failing: frozenset[str]


def retry_failures(session_factory: sessionmaker[Session], *, before: date) -> Retry:
    """Run again every unresolved failure of a day before ``before``: each account's days oldest
    first, each in its own transaction, which marks it resolved when it succeeds. An account
    whose day fails again keeps its later days too (they wait, in order)."""
    with session_factory() as session:
        pending = repository.unresolved_failures(session, before=before)
    by_account: dict[str, list[date]] = {}
    for account_id, failed_day in pending:
        by_account.setdefault(account_id, []).append(failed_day)
    retried = recovered = 0
    still: set[str] = set()
    for account_id, days in sorted(by_account.items()):
        for failed_day in days:
            retried += 1
            try:
                with session_factory() as session:
                    billing.process_account_day(session, account_id, failed_day)
                    repository.resolve_failure(session, account_id, failed_day)
                    session.commit()
                recovered += 1
                log.info("billing day %s recovered for account %s", failed_day, account_id)
            except Exception as exc:
                log.exception("billing day %s failed again for account %s", failed_day, account_id)
                _record_failure(session_factory, account_id, failed_day, repr(exc))
                still.add(account_id)
                break
    return Retry(retried, recovered, frozenset(still))


# A process of a pool handed to run_day(processes=...) keeps its own engine here.
_WORKER_SESSIONS: dict[str, sessionmaker[Session]] = {}


def init_worker(make_sessions: Callable[[], sessionmaker[Session]]) -> None:
    """The initializer of a process pool for :func:`run_day`: ``make_sessions`` (picklable: a
    module-level function, or a ``functools.partial`` of one) builds this process's sessions.

    Every model is imported first: a fresh process knows only the tables its imports
    declared, and a flush that meets a foreign key to an unknown table fails (a charge-off's
    update of its account, whose ``user_id`` refers to ``users``)."""
    import api.models  # noqa: F401

    _WORKER_SESSIONS["sessions"] = make_sessions()


def _process_in_worker(
    group: Sequence[str], day: date, keys: Sequence[str]
) -> tuple[dict[str, int], list[str]]:
    sessions = _WORKER_SESSIONS.get("sessions")
    if sessions is None:
        raise RuntimeError("this process pool was not started with api.jobs.daily.init_worker")
    return _process_accounts(sessions, group, day, keys)


def _by_house_shard(account_ids: Sequence[str], workers: int) -> list[list[str]]:
    """The accounts in at most ``workers`` groups, an account in its house shard's group."""
    if workers <= 1:
        return [list(account_ids)]
    groups: list[list[str]] = [[] for _ in range(workers)]
    for account_id in account_ids:
        groups[ledger.house_shard(account_id) % workers].append(account_id)
    return [group for group in groups if group] or [[]]


@contextmanager
def _exclusive(session_factory: sessionmaker[Session]) -> Iterator[None]:
    """One clock move or catch-up at a time, across every process (a PostgreSQL advisory lock)."""
    with session_factory() as session:
        session.execute(text("select pg_advisory_lock(:key)"), {"key": _JOB_LOCK})
        try:
            yield
        finally:
            session.execute(text("select pg_advisory_unlock(:key)"), {"key": _JOB_LOCK})
            session.commit()


def _first_day_to_run(session_factory: sessionmaker[Session], through: date) -> date:
    with session_factory() as session:
        last = repository.last_finished_run(session)
        if last is not None:
            return last.day + timedelta(days=1)
        first_opened = repository.first_opened_day(session)
    return first_opened.astimezone(UTC).date() if first_opened is not None else through


def _catch_up(
    session_factory: sessionmaker[Session],
    clock: Clock,
    through: date,
    stripe_client: stripe.StripeClient | None = None,
    workers: int = 1,
    processes: Executor | None = None,
) -> list[RunSummary]:
    day = _first_day_to_run(session_factory, through)
    if day > through:  # every day has run: what failed on them is still retried
        retry = retry_failures(session_factory, before=through + timedelta(days=1))
        if retry.retried:
            log.info("retried %d failed account days: %d recovered", retry.retried, retry.recovered)
    runs = []
    while day <= through:
        runs.append(
            run_day(
                session_factory, clock, day, stripe_client=stripe_client, workers=workers, processes=processes
            )
        )
        day += timedelta(days=1)
    return runs


def catch_up(
    session_factory: sessionmaker[Session],
    clock: Clock,
    *,
    through: date | None = None,
    stripe_client: stripe.StripeClient | None = None,
) -> list[RunSummary]:
    """Run every day not yet run, oldest first, through ``through`` (default: yesterday)."""
    through = through or clock.today() - timedelta(days=1)
    if through >= clock.today():
        raise UnprocessableEntity(f"{through} is not over yet.", code="day_not_over")
    with _exclusive(session_factory):
        return _catch_up(session_factory, clock, through, stripe_client)


@dataclass(frozen=True)
class ClockMove:
    previous: datetime
    now: datetime
    runs: list[RunSummary]


def advance_clock(
    session_factory: sessionmaker[Session],
    clock: Clock,
    *,
    days: int | None = None,
    to: datetime | None = None,
    stripe_client: stripe.StripeClient | None = None,
    actor_id: str | None = None,
    origin: Origin = NO_ORIGIN,
    workers: int = 1,
    processes: Executor | None = None,
) -> ClockMove:
    """Move the sandbox clock forward by ``days`` or to ``to`` and run every day that ended meanwhile
    (``workers``, ``processes``: see ``run_day``).

    The move and its audit event commit together; the days' runs follow in their own transactions.
    """
    clock.require_movable()
    if (days is None) == (to is None):
        raise UnprocessableEntity("Send exactly one of `days` and `to`.", code="clock_advance_invalid")
    with _exclusive(session_factory):
        clock.forget()
        previous = clock.now()
        if days is not None:
            if days < 1:
                raise UnprocessableEntity(
                    "The clock moves forward by at least one day.", code="clock_advance_too_small"
                )
            if days > MAX_ADVANCE_DAYS:  # before timedelta(), which overflows on absurd numbers
                raise UnprocessableEntity(
                    f"The clock moves at most {MAX_ADVANCE_DAYS} days at once.",
                    code="clock_advance_too_large",
                )
            target = previous + timedelta(days=days)
        else:
            assert to is not None
            if to.tzinfo is None:
                raise UnprocessableEntity("`to` needs a UTC offset (RFC 3339).", code="invalid_time")
            if to <= previous:
                raise UnprocessableEntity(
                    f"The sandbox clock only moves forward; it is {previous.isoformat()}.",
                    code="clock_backwards",
                )
            target = to
        if target - previous > timedelta(days=MAX_ADVANCE_DAYS):
            raise UnprocessableEntity(
                f"The clock moves at most {MAX_ADVANCE_DAYS} days at once.", code="clock_advance_too_large"
            )

        def _audit(connection: Connection) -> None:
            audit.record_on(
                connection,
                action=audit.CLOCK_ADVANCED,
                actor_id=actor_id,
                target="platform_clock",
                origin=origin,
                detail={"previous": previous.isoformat(), "to": target.isoformat(), "days": days},
            )

        now = clock.set_offset(clock.offset() + (target - previous), also=_audit)
        runs = _catch_up(
            session_factory, clock, now.date() - timedelta(days=1), stripe_client, workers, processes
        )
    return ClockMove(previous=previous, now=now, runs=runs)
