"""Random runs: the statement identity, the ledger's balance, and a day run twice changing nothing."""

from __future__ import annotations

import itertools
import multiprocessing
import random
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import date, timedelta
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from api.accounts.models import Account
from api.billing import service as billing
from api.billing.models import AccountBilling, BillingRun, Statement
from api.db import sessions_for
from api.jobs import daily as daily_job
from api.ledger import service as ledger
from tests.api.billing.helpers import at, move_clock_to, payment, purchase, receivable_as_of, refund
from tests.factories import open_card_account

TABLES = (
    "statements",
    "account_billing",
    "transactions",
    "ledger_transfers",
    "ledger_entries",
    "ledger_accounts",
    "accounts",
)


def _snapshot(session: Session) -> dict[str, Any]:
    snap = {}
    for table in TABLES:
        rows = session.execute(text(f"select * from {table} order by 1")).all()
        snap[table] = [tuple(r) for r in rows]
    return snap


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_runs_keep_every_invariant(
    seed: int, app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    rng = random.Random(seed)
    start = at(2031, 1, 1 + rng.randrange(28))  # leap year 2032 comes inside some runs
    move_clock_to(app, start)
    accounts = [
        open_card_account(
            session, app, credit_limit=rng.choice([500_00, 2_000_00]), apr_bps=rng.choice([0, 1_999, 2_999])
        )
        for _ in range(3)
    ]
    clock = app.state.clock
    purchases: dict[str, list[tuple[str, int]]] = {a[1]: [] for a in accounts}
    for _ in range(40):
        daily_job.advance_clock(session_factory, clock, days=rng.randint(1, 6))
        _, account_id, card_id = rng.choice(accounts)
        now = clock.now()
        action = rng.random()
        balance = ledger.balances(session, [account_id])[account_id]
        session.commit()
        if action < 0.55:
            amount = rng.randint(1_00, 150_00)
            if amount <= 500_00 - balance.current_balance - balance.pending_amount:
                purchases[account_id].append((purchase(session, card_id, amount, now), amount))
        elif action < 0.65 and purchases[account_id]:
            auth_id, amount = rng.choice(purchases[account_id])
            refund(session, card_id, auth_id, rng.randint(1, amount // 4 + 1), now)
            purchases[account_id] = [p for p in purchases[account_id] if p[0] != auth_id]
        elif balance.current_balance > 0:
            payment(session, account_id, rng.randint(1, balance.current_balance), now)

    session.expire_all()
    statements = (
        session.execute(select(Statement).order_by(Statement.account_id, Statement.period_end))
        .scalars()
        .all()
    )
    assert len(statements) >= 6
    by_account: dict[str, list[Statement]] = {}
    for s in statements:
        by_account.setdefault(s.account_id, []).append(s)
        assert (
            s.closing_balance
            == s.opening_balance + s.purchases - s.refunds - s.payments + s.interest + s.fees
        )
        assert s.closing_balance == receivable_as_of(session, s.account_id, billing.day_end(s.period_end))
        assert 0 <= s.minimum_payment <= max(s.closing_balance, 0)
        assert s.interest == 0 or not s.grace_period_applied
    for chain in by_account.values():
        for before, after in itertools.pairwise(chain):
            assert after.opening_balance == before.closing_balance
            assert after.period_start == before.period_end + timedelta(days=1)  # no gaps, no overlaps
    assert ledger.trial_balance(session).balanced
    assert ledger.unbalanced_transfers(session) == []

    # Every day ran once, in order, and running any day again changes nothing.
    runs = session.execute(select(BillingRun).order_by(BillingRun.day)).scalars().all()
    days = [r.day for r in runs]
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]
    assert all(r.finished_at is not None and r.counts["failed"] == 0 for r in runs)
    before = _snapshot(session)
    session.commit()
    for day in (statements[0].period_end, statements[-1].due_date, days[-1], days[len(days) // 2]):
        if day <= days[-1]:
            summary = daily_job.run_day(session_factory, clock, day, force=True)
            assert {
                k: v
                for k, v in summary.counts.items()
                if k not in ("accounts", "delinquent", "failed")
                and not k.startswith(("autopay", "reconciliation"))
            } == dict.fromkeys(
                (
                    "holds_expired",
                    "statements",
                    "interest_charges",
                    "late_fees",
                    "charged_off",
                    "retried",
                    "recovered",
                ),
                0,
            )
        again = daily_job.run_day(session_factory, clock, days[-1])
        assert again.already_run
    session.expire_all()
    assert _snapshot(session) == before


@pytest.fixture(params=["threads", "processes"])
def processes(request: pytest.FixtureRequest, database_url: str) -> Iterator[Executor | None]:
    """The daily job's accounts in the calling process, or in a process pool as ``--bulk``
    runs them (``api.jobs.daily.init_worker``: a fresh process, its own engine)."""
    if request.param == "threads":
        yield None
        return
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("forkserver"),
        initializer=daily_job.init_worker,
        # api.db only: the worker must not get the models from this test module's imports.
        initargs=(partial(sessions_for, database_url),),
    )
    yield pool
    pool.shutdown()


def test_charge_off_at_180_days(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session], processes: Executor | None
) -> None:
    move_clock_to(app, at(2032, 2, 1))
    _, account_id, card_id = open_card_account(session, app, credit_limit=1_000_00, apr_bps=2_499)
    purchase(session, card_id, 400_00, app.state.clock.now())
    clock = app.state.clock
    runs = daily_job.advance_clock(session_factory, clock, days=200, processes=processes).runs
    runs += daily_job.advance_clock(session_factory, clock, days=60, processes=processes).runs
    assert all(run.counts["failed"] == 0 for run in runs)
    session.expire_all()
    state = session.get_one(AccountBilling, account_id)
    first_due = (
        session.execute(
            select(Statement.due_date)
            .where(Statement.account_id == account_id)
            .order_by(Statement.period_end)
        )
        .scalars()
        .first()
    )
    assert first_due is not None
    assert state.charged_off_on == first_due + timedelta(days=180)
    assert state.delinquency_bucket == "90+"
    assert state.days_past_due == 180
    # The purchase, six months of interest and late fees: all of it written off.
    assert state.charged_off_amount is not None
    assert state.charged_off_amount > 400_00
    assert ledger.balances(session, [account_id])[account_id].current_balance == 0
    loss = session.get_one(ledger.LedgerAccount, ledger.house(ledger.House.CHARGE_OFF_LOSS, account_id))
    assert loss.posted_balance == state.charged_off_amount
    account = session.get_one(Account, account_id)
    assert account.status == "closed"
    # No statement after the charge-off, and the ledger balances.
    last_close = (
        session.execute(
            select(Statement.period_end)
            .where(Statement.account_id == account_id)
            .order_by(Statement.period_end.desc())
        )
        .scalars()
        .first()
    )
    assert last_close is not None
    assert last_close <= state.charged_off_on
    assert ledger.trial_balance(session).balanced
    assert date(2032, 2, 1) < state.charged_off_on
