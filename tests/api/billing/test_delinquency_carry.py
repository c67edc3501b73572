"""The daily job ages the delinquencies where only time passed in one statement
(``billing.carry_unchanged_delinquencies``); every other account with work is recomputed from
its facts (``billing.delinquency_on``). Day by day, through a bucket change, partial, full and
returned payments, what the job stores must be what the recomputation finds, and what it records
for the day (``delinquency_days``: a row per delinquent account and day) what it stores."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.accounts.models import Account
from api.billing import service as billing
from api.billing.models import AccountBilling, DelinquencyDay
from api.jobs import daily as daily_job
from api.ledger import service as ledger
from api.payments import service as payments
from tests.api.billing.helpers import at, move_clock_to, payment, purchase, refund, succeeded_payment
from tests.factories import open_card_account


def _stored(session: Session, account_id: str) -> tuple[date, int, str, int]:
    state = session.get_one(AccountBilling, account_id)
    return state.as_of, state.days_past_due, state.delinquency_bucket, state.past_due_amount


def _recorded(session: Session, account_id: str, day: date) -> tuple[int, str, int] | None:
    row = session.get(DelinquencyDay, (account_id, day))
    return None if row is None else (row.days_past_due, row.bucket, row.past_due_amount)


def _recorded_count(session: Session, account_id: str | None = None) -> int:
    query = select(func.count()).select_from(DelinquencyDay)
    if account_id is not None:
        query = query.where(DelinquencyDay.account_id == account_id)
    return session.execute(query).scalar_one()


def _recomputed(session: Session, account_id: str, day: date) -> list[object]:
    account = session.get_one(Account, account_id)
    balance = ledger.balances(session, [account_id])[account_id].current_balance
    state = billing.delinquency_on(session, account, day, balance=balance)
    return [state.days_past_due, state.bucket, state.past_due_amount]


def test_carried_delinquencies_are_the_recomputed_ones(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    carried: dict[date, set[str]] = {}
    carry = billing.carry_unchanged_delinquencies

    def spy(session: Session, day: date) -> set[str]:
        carried[day] = carry(session, day)
        return carried[day]

    monkeypatch.setattr(billing, "carry_unchanged_delinquencies", spy)
    move_clock_to(app, at(2032, 3, 3))
    clock = app.state.clock
    never_pays = open_card_account(session, app, credit_limit=2_000_00)
    pays_late = open_card_account(session, app, credit_limit=2_000_00)
    never_pays_purchase = purchase(session, never_pays[2], 600_00, clock.now())
    purchase(session, pays_late[2], 800_00, clock.now())
    start = clock.now().date()
    recorded_days = {never_pays[1]: 0, pays_late[1]: 0}
    for offset in range(1, 131):
        daily_job.advance_clock(session_factory, clock, days=1)
        day = clock.now().date() - timedelta(days=1)
        session.expire_all()
        for _, account_id, _ in (never_pays, pays_late):
            if session.get(AccountBilling, account_id) is not None:
                # An account without work that day keeps an older as_of (and is current).
                as_of, *stored = _stored(session, account_id)
                assert as_of <= day
                assert stored == _recomputed(session, account_id, day), (day, account_id)
                # The day's record: the stored state when the account was looked at and past due.
                delinquent = as_of == day and stored[0] > 0
                assert _recorded(session, account_id, day) == (tuple(stored) if delinquent else None)
                if delinquent:
                    recorded_days[account_id] += 1
        session.commit()
        now = clock.now()
        if offset == 75:  # below the minimum: the oldest unmet minimum shrinks, still past due
            payment(session, pays_late[1], 10_00, now)
        if offset == 90:  # a payment that Stripe takes back three days later
            returned = succeeded_payment(session, pays_late[0], pays_late[1], 200_00, now)
        if offset == 93:
            payments.post_return(
                session,
                payment_id=returned,
                kind="refund",
                stripe_object_id=f"re_{returned}",
                amount=200_00,
                now=now,
            )
            session.commit()
        if offset == 120:  # a merchant refund leaves less owed than is past due: the carry must see it
            refund(session, never_pays[2], never_pays_purchase, 590_00, now)
        if offset == 110:  # everything owed: current again
            owed = ledger.balances(session, [pays_late[1]])[pays_late[1]].current_balance
            payment(session, pays_late[1], owed, now)

    session.expire_all()
    assert session.get_one(AccountBilling, pays_late[1]).days_past_due == 0
    # Still past due after the refund (some is still owed), but of less and of a later due date:
    # the refund took what it covered off the oldest unmet minimums first.
    assert 0 < _stored(session, never_pays[1])[1] < 90
    # The carry did most of the delinquent days; the days with a payment or a return took the full path.
    never_pays_carried = sorted(d for d, ids in carried.items() if never_pays[1] in ids)
    assert len(never_pays_carried) > 50
    assert any(pays_late[1] in ids for ids in carried.values())
    assert not any(pays_late[1] in carried.get(start + timedelta(days=o), set()) for o in (75, 90, 93, 110))
    assert never_pays[1] not in carried.get(start + timedelta(days=120), set())
    # One row per delinquent day, carried or recomputed, and none other.
    for account_id, days in recorded_days.items():
        assert days > 30
        assert _recorded_count(session, account_id) == days
    assert ledger.trial_balance(session).balanced


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ((29, "1-29"), (30, "30-59")),  # the bucket moves with the days
        ((89, "60-89"), (90, "90+")),
        ((178, "90+"), (179, "90+")),
        ((179, "90+"), None),  # the 180th day is the charge-off's: the full path
        ((0, "current"), None),
    ],
)
def test_the_carry_ages_by_one_day_and_stops_before_the_charge_off(
    before: tuple[int, str], after: tuple[int, str] | None, app: FastAPI, session: Session
) -> None:
    move_clock_to(app, at(2032, 3, 3))
    _, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00)
    purchase(session, card_id, 600_00, app.state.clock.now())
    day = date(2032, 3, 20)  # no cycle closes, nothing is due
    session.add(
        AccountBilling(
            account_id=account_id,
            as_of=day - timedelta(days=1),
            days_past_due=before[0],
            delinquency_bucket=before[1],
            past_due_amount=25_00 if before[0] else 0,
        )
    )
    session.commit()
    carried = billing.carry_unchanged_delinquencies(session, day)
    session.commit()
    session.expire_all()
    stored = _stored(session, account_id)
    if after is None:
        assert account_id not in carried
        assert stored == (day - timedelta(days=1), *before, 25_00 if before[0] else 0)
        assert _recorded(session, account_id, day) is None
    else:
        assert account_id in carried
        assert stored == (day, *after, 25_00)
        assert _recorded(session, account_id, day) == (after[0], after[1], 25_00)


def test_a_day_run_again_replaces_its_record(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """Re-running a day rewrites its record from the facts: the same rows when nothing changed,
    the account's row gone when a payment posted in the day (arriving late) made it current."""
    move_clock_to(app, at(2032, 3, 3))
    clock = app.state.clock
    _, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00)
    purchase(session, card_id, 600_00, clock.now())
    session.commit()
    for _ in range(70):  # a statement, its due date missed: past due
        daily_job.advance_clock(session_factory, clock, days=1)
    day = clock.now().date() - timedelta(days=1)
    session.expire_all()
    as_of, days_past_due, bucket, past_due = _stored(session, account_id)
    assert as_of == day
    assert days_past_due > 0
    assert _recorded(session, account_id, day) == (days_past_due, bucket, past_due)
    rows = _recorded_count(session)

    daily_job.run_day(session_factory, clock, day, force=True)
    session.expire_all()
    assert _recorded_count(session) == rows
    assert _recorded(session, account_id, day) == (days_past_due, bucket, past_due)

    owed = ledger.balances(session, [account_id])[account_id].current_balance
    payment(session, account_id, owed, at(day.year, day.month, day.day))
    session.commit()
    daily_job.run_day(session_factory, clock, day, force=True)
    session.expire_all()
    assert _stored(session, account_id)[1:] == (0, "current", 0)
    assert _recorded(session, account_id, day) is None
    assert _recorded_count(session) == rows - 1
