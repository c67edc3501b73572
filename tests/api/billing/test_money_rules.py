"""Issue 20's findings, each through the daily job (and the API where a cardholder reads it).

Every expected figure is derived here from the rule's text, not from the code:

- 12 CFR 1026.52(b)(2)(i)(B)(1): a late fee may not exceed "the amount of the required minimum
  periodic payment due immediately prior to assessment of the late payment fee"; what is due
  is never more than what is owed, so a refund that leaves less owed than the minimum lowers
  it, and one that leaves nothing owed leaves nothing late (REGZ.md R5, R6: "nothing owed
  means nothing late").
- The minimum payment includes any amount past due (REGZ.md, issuer practice), so paying each
  minimum shown brings the account current.
- 12 CFR 1026.10(a): "A creditor shall credit a payment to the consumer's account as of the
  date of receipt": a payment made on the due date and confirmed by Stripe after midnight is
  on time.
- No cycle is ever skipped: an account whose day fails is retried, oldest day first.
"""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from api.billing.models import AccountBilling, BillingFailure, BillingRun, Statement
from api.billing.pdf import dollars
from api.ids import new_id
from api.jobs import daily as daily_job
from api.ledger import service as ledger
from api.network.models import Transaction
from api.payments import service as payments
from api.payments.models import Payment
from tests.api.billing.helpers import at, move_clock_to, payment, purchase, refund
from tests.factories import PASSWORD, login, open_card_account, unique_email


def _statements(session: Session, account_id: str) -> list[Statement]:
    session.expire_all()
    return list(
        session.execute(
            select(Statement).where(Statement.account_id == account_id).order_by(Statement.period_end)
        ).scalars()
    )


def _fees(session: Session, account_id: str) -> list[int]:
    return list(
        session.execute(
            select(Transaction.amount)
            .where(Transaction.account_id == account_id, Transaction.type == "fee")
            .order_by(Transaction.posted_at)
        ).scalars()
    )


def _to_day(app: FastAPI, session_factory: sessionmaker[Session], day: date, hour: int = 12) -> None:
    """The sandbox clock to ``hour`` on ``day``: the daily job has run every day before it."""
    daily_job.advance_clock(session_factory, app.state.clock, to=at(day.year, day.month, day.day, hour))


# --- 1. A late fee when nothing is owed ---------------------------------------------------------


def test_no_late_fee_when_a_refund_leaves_nothing_owed(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """$600 bought, the statement closes (minimum $25: 1 % is $6, under the $25 floor), then the
    merchant refunds all $600 before the due date: nothing is owed, so nothing is late."""
    move_clock_to(app, at(2031, 1, 3))
    _, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00)
    bought = purchase(session, card_id, 600_00, app.state.clock.now())
    _to_day(app, session_factory, date(2031, 2, 5))
    [first] = _statements(session, account_id)
    assert (first.closing_balance, first.minimum_payment) == (600_00, 25_00)
    refund(session, card_id, bought, 600_00, app.state.clock.now())
    _to_day(app, session_factory, first.due_date + timedelta(days=3))
    [first] = _statements(session, account_id)
    assert first.late_fee_amount == 0
    assert _fees(session, account_id) == []
    state = session.get_one(AccountBilling, account_id)
    assert (state.days_past_due, state.past_due_amount, state.delinquency_bucket) == (0, 0, "current")


def test_a_refund_that_leaves_less_than_the_minimum_owed_caps_the_fee(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """$600 bought, $590 refunded before the due date: $10 is still owed, less than the $25
    minimum. $10 had to arrive by the due date; it did not: the fee is $10 (not the $30 safe
    harbour, not the $25 minimum: never more than what was due), and $10 is past due."""
    move_clock_to(app, at(2031, 1, 3))
    _, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00)
    bought = purchase(session, card_id, 600_00, app.state.clock.now())
    _to_day(app, session_factory, date(2031, 2, 5))
    [first] = _statements(session, account_id)
    refund(session, card_id, bought, 590_00, app.state.clock.now())
    _to_day(app, session_factory, first.due_date + timedelta(days=3))
    [first] = _statements(session, account_id)
    assert first.late_fee_amount == 10_00
    assert _fees(session, account_id) == [10_00]
    state = session.get_one(AccountBilling, account_id)
    assert (state.days_past_due, state.past_due_amount) == (2, 10_00)


# --- 3. Past-due amounts in the next minimum ----------------------------------------------------


def test_paying_each_minimum_shown_after_a_miss_brings_the_account_current(
    app: FastAPI, client: TestClient, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """One minimum missed, then every minimum shown paid on time: the second statement shows the
    first minimum as past due and asks for it with its own; paying that makes the account current.

    Figures: $1,000 bought on an account opened 2031-01-03 (cycle day 3, due day 28). Statement 1
    (closing 2031-02-03): $1,000.00, minimum max($25, 1 % = $10) = $25.00, due 2031-02-28, missed:
    late fee $25.00 (the $30 safe harbour capped at the $25 minimum). Statement 2 (closing
    2031-03-03): past due $25.00; its own minimum is 1 % of the balance plus its interest and
    fees, at least $25; the minimum shown is that plus $25.00.
    """
    email = unique_email("pays-minimums")
    move_clock_to(app, at(2031, 1, 3))
    _, account_id, card_id = open_card_account(session, app, credit_limit=3_000_00, email=email)
    purchase(session, card_id, 1_000_00, app.state.clock.now())
    _to_day(app, session_factory, date(2031, 3, 4))
    first, second = _statements(session, account_id)
    assert (first.minimum_payment, first.late_fee_amount, first.due_date) == (25_00, 25_00, date(2031, 2, 28))
    assert second.past_due_amount == 25_00
    own = max(25_00, round(second.closing_balance / 100) + second.interest + second.fees)
    assert second.minimum_payment == own + 25_00

    # The cardholder reads the same on the API: the statement, and the account's minimum due.
    holder = login(client, email, PASSWORD)
    body = client.get(f"/v1/statements/{second.id}", headers=holder.headers).json()
    assert (body["past_due_amount"], body["minimum_payment"]) == (25_00, second.minimum_payment)
    account = client.get(f"/v1/accounts/{account_id}", headers=holder.headers).json()
    assert account["minimum_payment_due"] == second.minimum_payment
    assert account["past_due_amount"] == 25_00
    pdf = client.get(f"/v1/statements/{second.id}/pdf", headers=holder.headers)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Past Due Amount $25.00" in text
    assert f"Minimum Payment Due {dollars(second.minimum_payment)}" in text

    # Each minimum shown, paid the day the statement closes, for three more cycles.
    for _ in range(3):
        latest = _statements(session, account_id)[-1]
        payment(session, account_id, latest.minimum_payment, app.state.clock.now())
        _to_day(app, session_factory, latest.due_date + timedelta(days=2))
        state = session.get_one(AccountBilling, account_id)
        assert (state.days_past_due, state.past_due_amount) == (0, 0)
        _to_day(app, session_factory, latest.period_end + timedelta(days=32))
    statements = _statements(session, account_id)
    assert statements[-1].past_due_amount == 0
    assert [s.late_fee_amount for s in statements[1:]] == [0] * (len(statements) - 1)
    assert ledger.trial_balance(session).balanced


# --- 4. A failed account loses its cycle --------------------------------------------------------


def test_an_account_that_fails_on_its_closing_day_is_retried_and_keeps_every_cycle(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """A real failure (a trigger refuses this account's statements) on the closing day: the day
    finishes for the others and records the failure; the next run retries it first, so the
    statement exists, covers one cycle, and the next one starts the day after."""
    move_clock_to(app, at(2031, 1, 3))
    _, failing, failing_card = open_card_account(session, app, credit_limit=2_000_00)
    _, healthy, healthy_card = open_card_account(session, app, credit_limit=2_000_00)
    purchase(session, failing_card, 300_00, app.state.clock.now())
    purchase(session, healthy_card, 300_00, app.state.clock.now())
    session.execute(
        text(
            "create function refuse_statement() returns trigger language plpgsql as $$"
            " begin raise exception 'statement refused for the test'; end $$"
        )
    )
    session.execute(
        text(
            "create trigger refuse_statement before insert on statements for each row"
            f" when (new.account_id = '{failing}') execute function refuse_statement()"
        )
    )
    session.commit()
    try:
        _to_day(app, session_factory, date(2031, 2, 4))  # the 3rd closes a cycle; it fails
        run = session.execute(select(BillingRun).where(BillingRun.day == date(2031, 2, 3))).scalar_one()
        assert run.counts["failed"] == 1
        assert run.counts["failed_accounts"] == [failing]
        assert [s.period_end for s in _statements(session, healthy)] == [date(2031, 2, 3)]
        assert _statements(session, failing) == []
        failure = session.get_one(BillingFailure, (failing, date(2031, 2, 3)))
        assert failure.resolved_at is None
        assert "statement refused" in failure.error
        _to_day(app, session_factory, date(2031, 2, 5))  # still failing: its later day waits too
        assert session.get(BillingFailure, (failing, date(2031, 2, 4))) is not None
    finally:
        session.execute(text("drop trigger refuse_statement on statements"))
        session.execute(text("drop function refuse_statement()"))
        session.commit()

    _to_day(app, session_factory, date(2031, 3, 5))
    [first, second] = _statements(session, failing)
    assert (first.period_start, first.period_end) == (date(2031, 1, 3), date(2031, 2, 3))
    assert (second.period_start, second.period_end) == (date(2031, 2, 4), date(2031, 3, 3))
    assert first.closing_balance == 300_00
    session.expire_all()
    failures = session.execute(select(BillingFailure).where(BillingFailure.account_id == failing)).scalars()
    assert all(f.resolved_at is not None for f in failures)
    assert ledger.trial_balance(session).balanced


def test_ops_run_day_retries_a_failure_when_every_day_has_run(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """``cardportal ops run-day`` (``catch_up``) with no day left to run still retries failures."""
    move_clock_to(app, at(2031, 1, 3))
    _, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00)
    purchase(session, card_id, 300_00, app.state.clock.now())
    _to_day(app, session_factory, date(2031, 2, 3))
    session.add(
        BillingFailure(
            account_id=account_id,
            day=date(2031, 2, 3),
            error="lost",
            first_failed_at=app.state.clock.now(),
            last_failed_at=app.state.clock.now(),
        )
    )
    session.commit()
    _to_day(app, session_factory, date(2031, 2, 4), hour=1)  # the 3rd runs: the account closes
    session.execute(text("delete from statements where account_id = :a"), {"a": account_id})
    session.execute(text("update billing_failures set resolved_at = null"))
    session.commit()
    assert daily_job.catch_up(session_factory, app.state.clock) == []  # no day left to run
    assert [s.period_end for s in _statements(session, account_id)] == [date(2031, 2, 3)]
    assert session.get_one(BillingFailure, (account_id, date(2031, 2, 3))).resolved_at is not None


# --- 8. A payment counts on the day it was made ------------------------------------------------


def _pending_payment(session: Session, user_id: str, account_id: str, amount: int, made: datetime) -> str:
    """A payment made at ``made`` and still pending at Stripe (its row, as create_payment commits it)."""
    row = Payment(
        id=new_id("pay"),
        account_id=account_id,
        user_id=user_id,
        initiated_by="customer",
        amount=amount,
        currency="USD",
        status="pending",
        stripe_payment_intent_id=f"pi_{new_id('t')}",
        created_at=made,
        updated_at=made,
    )
    session.add(row)
    session.commit()
    return row.id


def _paid_at_2350_on_the_due_date(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> tuple[str, str, date, datetime]:
    """A $600 statement (minimum $25) whose minimum is paid at 23:50 on the due date and still
    pending at Stripe when the due date's job runs (00:00 the day after): the fee waits.
    (account id, payment id, due date, when it was made)."""
    move_clock_to(app, at(2031, 1, 3))
    user_id, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00)
    purchase(session, card_id, 600_00, app.state.clock.now())
    _to_day(app, session_factory, date(2031, 2, 5))
    [first] = _statements(session, account_id)
    due = first.due_date
    _to_day(app, session_factory, due, hour=23)
    made = app.state.clock.now() + timedelta(minutes=50)  # 23:50 on the due date
    payment_id = _pending_payment(session, user_id, account_id, first.minimum_payment, made)
    _to_day(app, session_factory, due + timedelta(days=1), hour=0)  # the due date's job runs
    [first] = _statements(session, account_id)
    assert first.late_fee_deferred
    assert first.late_fee_amount == 0
    return account_id, payment_id, due, made


def test_a_payment_made_on_the_due_date_and_confirmed_after_midnight_is_on_time(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    account_id, payment_id, due, made = _paid_at_2350_on_the_due_date(app, session, session_factory)
    # Stripe confirms it ten minutes after midnight (the webhook's path).
    intent = SimpleNamespace(status="succeeded", id=f"pi_{payment_id}", last_payment_error=None)
    payments.apply_intent(session, payment_id=payment_id, intent=intent, now=made + timedelta(minutes=20))
    session.commit()
    _to_day(app, session_factory, due + timedelta(days=3))
    [first] = _statements(session, account_id)
    assert (first.late_fee_amount, first.late_fee_deferred) == (0, False)
    assert _fees(session, account_id) == []
    assert session.get_one(AccountBilling, account_id).days_past_due == 0


def test_a_payment_made_on_the_due_date_that_fails_after_midnight_is_late(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    account_id, payment_id, due, made = _paid_at_2350_on_the_due_date(app, session, session_factory)
    intent = SimpleNamespace(
        status="requires_payment_method",
        id=f"pi_{payment_id}",
        last_payment_error=SimpleNamespace(code="card_declined", message="declined"),
    )
    payments.apply_intent(session, payment_id=payment_id, intent=intent, now=made + timedelta(minutes=20))
    session.commit()
    _to_day(app, session_factory, due + timedelta(days=3))
    [first] = _statements(session, account_id)
    # The minimum ($25) never arrived: the first violation's $30, capped at the $25 due.
    assert (first.late_fee_amount, first.late_fee_deferred) == (25_00, False)
    assert _fees(session, account_id) == [25_00]
    assert session.get_one(AccountBilling, account_id).days_past_due == 2
