"""A payment that Stripe later returns (a refund or a dispute) pays nothing.

It must not meet the minimum payment, avoid the late fee, keep the account
current, lower the minimum still due, or count in the statement's payments:
billing reckons each payment net of what was returned of it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.billing import service as billing
from api.billing.models import AccountBilling, Statement
from api.jobs import daily as daily_job
from api.ledger import service as ledger
from api.network.models import Transaction
from api.payments import service as payments
from tests.api.billing.helpers import at, move_clock_to, purchase, receivable_as_of, succeeded_payment
from tests.factories import open_card_account


def _statements(session: Session, account_id: str) -> list[Statement]:
    session.expire_all()
    return list(
        session.execute(
            select(Statement).where(Statement.account_id == account_id).order_by(Statement.period_end)
        ).scalars()
    )


@pytest.mark.parametrize("kind", ["refund", "dispute"])
def test_a_returned_payment_does_not_pay_the_minimum(
    kind: str, app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    move_clock_to(app, at(2032, 3, 3))
    clock = app.state.clock
    user_id, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00, apr_bps=2_499)
    purchase(session, card_id, 600_00, clock.now())
    daily_job.advance_clock(session_factory, clock, days=32)  # past the first close
    [first] = _statements(session, account_id)
    assert first.minimum_payment > 0
    assert clock.now().date() < first.due_date

    # The whole minimum is paid and credited, then returned before the due date.
    paid_at = clock.now()
    payment_id = succeeded_payment(session, user_id, account_id, first.minimum_payment, paid_at)
    summary = billing.billing_summaries(session, [account_id])[account_id]
    assert summary.minimum_payment_due == 0  # while it stands, it pays the minimum
    returned = payments.post_return(
        session,
        payment_id=payment_id,
        kind=kind,
        stripe_object_id=f"{'re' if kind == 'refund' else 'dp'}_{payment_id}",
        amount=first.minimum_payment,
        now=paid_at + timedelta(days=2),
    )
    session.commit()
    assert returned == first.minimum_payment
    summary = billing.billing_summaries(session, [account_id])[account_id]
    assert summary.minimum_payment_due == first.minimum_payment

    # Past the due date the account is past due, and the missed minimum draws one penalty fee:
    # a dispute already charged the returned-payment fee for it, so no late fee as well; a refund
    # charged none, so the late fee is the one (12 CFR 1026.52(b)(2)(ii): "must not impose more
    # than one fee for violating the terms ... based on a single event or transaction").
    days_to_due = (first.due_date - clock.now().date()).days
    daily_job.advance_clock(session_factory, clock, days=days_to_due + 3)
    [first] = _statements(session, account_id)
    fees = (
        session.execute(
            select(Transaction.amount).where(Transaction.account_id == account_id, Transaction.type == "fee")
        )
        .scalars()
        .all()
    )
    assert len(fees) == 1
    if kind == "dispute":
        assert first.late_fee_amount == 0
        assert fees == [min(payments.RETURNED_PAYMENT_FEE, first.minimum_payment)]
    else:
        # The first violation's safe harbour, never more than the minimum missed (1026.52(b)(2)(i)).
        assert first.late_fee_amount == fees[0] == min(30_00, first.minimum_payment)
    state = session.get_one(AccountBilling, account_id)
    assert state.days_past_due > 0
    assert state.past_due_amount == first.minimum_payment

    # The next statement shows the payment and, on a line of its own, its return (never a
    # negative payment), and agrees with the ledger.
    daily_job.advance_clock(session_factory, clock, days=32)
    first, second = _statements(session, account_id)[:2]
    assert second.payments == first.minimum_payment
    assert second.returned_payments == first.minimum_payment
    assert second.closing_balance == receivable_as_of(session, account_id, billing.day_end(second.period_end))
    # Interest accrued on the balance as if the payment had never been made.
    assert not second.grace_period_applied
    assert second.interest > 0
    assert ledger.trial_balance(session).balanced


def test_a_partly_returned_payment_pays_what_stayed(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    move_clock_to(app, at(2032, 5, 5))
    clock = app.state.clock
    user_id, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00, apr_bps=2_499)
    purchase(session, card_id, 900_00, clock.now())
    daily_job.advance_clock(session_factory, clock, days=32)
    [first] = _statements(session, account_id)
    minimum = first.minimum_payment
    payment_id = succeeded_payment(session, user_id, account_id, minimum + 50_00, clock.now())
    # 60 dollars refunded: what stayed is 10 dollars short of the minimum.
    payments.post_return(
        session,
        payment_id=payment_id,
        kind="refund",
        stripe_object_id=f"re_{payment_id}",
        amount=60_00,
        now=clock.now() + timedelta(days=1),
    )
    session.commit()
    assert billing.billing_summaries(session, [account_id])[account_id].minimum_payment_due == 10_00
    daily_job.advance_clock(session_factory, clock, days=(first.due_date - clock.now().date()).days + 2)
    [first] = _statements(session, account_id)
    assert first.late_fee_amount > 0
    assert session.get_one(AccountBilling, account_id).past_due_amount == 10_00


def test_a_payment_that_stands_pays_the_minimum(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """The control: the same payment, not returned, meets the minimum and avoids the fee."""
    move_clock_to(app, at(2032, 3, 3))
    clock = app.state.clock
    user_id, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00, apr_bps=2_499)
    purchase(session, card_id, 600_00, clock.now())
    daily_job.advance_clock(session_factory, clock, days=32)
    [first] = _statements(session, account_id)
    succeeded_payment(session, user_id, account_id, first.minimum_payment, clock.now())
    daily_job.advance_clock(session_factory, clock, days=(first.due_date - clock.now().date()).days + 3)
    [first] = _statements(session, account_id)
    assert first.late_fee_amount == 0
    assert session.get_one(AccountBilling, account_id).days_past_due == 0
