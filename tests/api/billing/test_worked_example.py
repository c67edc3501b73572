"""The worked example: one account over three cycles, every figure derived by hand.

Account: limit $5,000.00, APR 24.99 % (2499 bps), opened 2030-01-10 12:00 UTC,
so its cycle day is the 10th and its due day is the 5th (10 + 25 = 35 > 30,
so 10 - 5 = 5 of the next month). 2030 is not a leap year.

Daily periodic rate = 2499 bps / 365; interest = (sum of daily balances) x 2499 / 3,650,000,
rounded half up to the cent. Balances are the end-of-day balance, new purchases included.

Cycle 1, 2030-01-10 .. 2030-02-10 (32 days)
  01-15 purchase 1,500.00; 01-20 purchase 700.00; 01-25 refund 100.00 of the first.
  No previous statement: grace period, interest 0.00.
  closing = 0 + 2,200.00 - 100.00 = 2,100.00
  minimum = max(25.00, 1 % x 2,100.00 = 21.00 + 0 + 0) = 25.00
  due = 2030-03-05 (the 5th; 23 days after a close in February's short month)

Cycle 2, 2030-02-11 .. 2030-03-10 (28 days)
  02-20 payment 300.00 (partial: at least the 25.00 minimum, so no late fee, but not the
  2,100.00 balance, so the grace period is lost); 03-01 purchase 200.00.
  12 CFR 1026.54(a)(1)(ii): the 300.00 repaid out of a balance that had a grace period earns no
  interest, so it counts from 02-11:
    02-11..02-28: 18 days x 1,800.00 = 32,400.00
    03-01..03-10: 10 days x 2,000.00 = 20,000.00         sum = 52,400.00 = 5,240,000 cents
  interest = 5,240,000 x 2499 / 3,650,000 = 3,587.61 -> 3,588 cents = 35.88
  average daily balance = 5,240,000 / 28 = 187,142.86 -> 1,871.43
  closing = 2,100.00 - 300.00 + 200.00 + 35.88 = 2,035.88
  minimum = max(25.00, 1 % x 2,035.88 = 20.3588 -> 20.36, + 35.88 interest) = 56.24
  due = 2030-04-05

Cycle 3, 2030-03-11 .. 2030-04-10 (31 days)
  03-15 purchase 100.00; no payment at all: the 56.24 due 04-05 is missed, so on 04-05 a late
  fee of 30.00 (the first; 12 CFR 1026.52(b)(1)(ii)(A), under the 56.24 minimum) posts.
  Previous balance not paid in full: no grace; the previous cycle had none either: no shift.
    03-11..03-14:  4 days x 2,035.88 =   8,143.52
    03-15..04-04: 21 days x 2,135.88 =  44,853.48
    04-05..04-10:  6 days x 2,165.88 =  12,995.28        sum = 65,992.28 = 6,599,228 cents
  interest = 6,599,228 x 2499 / 3,650,000 = 4,518.21 -> 4,518 cents = 45.18
  closing = 2,035.88 + 100.00 + 30.00 + 45.18 = 2,211.06
  this cycle's minimum = max(25.00, 1 % x 2,211.06 = 22.1106 -> 22.11, + 45.18 + 30.00) = 97.29
  past due at the close: the 56.24 due 04-05, unpaid (and less than the 2,035.88 still owed
  on the second statement): 56.24.
  minimum payment shown = 97.29 + 56.24 past due = 153.53 (issue 20: the minimum includes
  the amount past due, so paying it by 05-05 makes the account current; under 2,211.06).
  due = 2030-05-05; year to date: interest 35.88 + 45.18 = 81.06, fees 30.00.
  Delinquency at the end of 04-10: the 56.24 due 04-05 is unpaid: 5 days past due, "1-29".

After: 05-05 passes unpaid too: a second late fee within six cycles is 41.00
(1026.52(b)(1)(ii)(B)); at the end of 05-10, 35 days past due: "30-59".
"""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.billing import service as billing
from api.billing.models import AccountBilling, Statement
from api.jobs import daily as daily_job
from api.ledger import service as ledger
from api.network.models import Transaction
from tests.api.billing.helpers import at, move_clock_to, payment, purchase, receivable_as_of, refund
from tests.factories import open_card_account


def _advance_to(app: FastAPI, session_factory: sessionmaker[Session], when) -> None:  # type: ignore[no-untyped-def]
    daily_job.advance_clock(session_factory, app.state.clock, to=when)


def test_three_cycles_to_the_cent(
    app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    move_clock_to(app, at(2030, 1, 10))
    _, account_id, card_id = open_card_account(session, app, credit_limit=5_000_00, apr_bps=2_499)

    _advance_to(app, session_factory, at(2030, 1, 15))
    first = purchase(session, card_id, 1_500_00, app.state.clock.now())
    _advance_to(app, session_factory, at(2030, 1, 20))
    purchase(session, card_id, 700_00, app.state.clock.now())
    _advance_to(app, session_factory, at(2030, 1, 25))
    refund(session, card_id, first, 100_00, app.state.clock.now())
    _advance_to(app, session_factory, at(2030, 2, 20))
    payment(session, account_id, 300_00, app.state.clock.now())
    _advance_to(app, session_factory, at(2030, 3, 1))
    purchase(session, card_id, 200_00, app.state.clock.now())
    _advance_to(app, session_factory, at(2030, 3, 15))
    purchase(session, card_id, 100_00, app.state.clock.now())
    _advance_to(app, session_factory, at(2030, 4, 11))

    session.expire_all()
    statements = (
        session.execute(
            select(Statement).where(Statement.account_id == account_id).order_by(Statement.period_end)
        )
        .scalars()
        .all()
    )
    figures = [
        (
            s.period_start, s.period_end, s.days_in_period, s.opening_balance, s.purchases, s.refunds,
            s.payments, s.interest, s.fees, s.closing_balance, s.minimum_payment, s.due_date,
        )
        for s in statements
    ]  # fmt: skip
    # start, end, days, opening, purchases, refunds, payments, interest, fees, closing, minimum, due
    assert figures == [
        (date(2030, 1, 10), date(2030, 2, 10), 32, 0, 2_200_00, 100_00, 0, 0, 0, 2_100_00, 25_00,
         date(2030, 3, 5)),
        (date(2030, 2, 11), date(2030, 3, 10), 28, 2_100_00, 200_00, 0, 300_00, 35_88, 0, 2_035_88, 56_24,
         date(2030, 4, 5)),
        (date(2030, 3, 11), date(2030, 4, 10), 31, 2_035_88, 100_00, 0, 0, 45_18, 30_00, 2_211_06, 153_53,
         date(2030, 5, 5)),
    ]  # fmt: skip
    s1, s2, s3 = statements
    assert [s.grace_period_applied for s in statements] == [True, False, False]
    assert s2.average_daily_balance == 1_871_43
    assert s3.average_daily_balance == round(6_599_228 / 31)
    assert (s1.late_fee_amount, s2.late_fee_amount, s3.late_fee_amount) == (0, 30_00, 0)
    assert (s1.past_due_amount, s2.past_due_amount, s3.past_due_amount) == (0, 0, 56_24)
    assert (s3.interest_ytd, s3.fees_ytd) == (81_06, 30_00)
    assert (s2.interest_ytd, s2.fees_ytd) == (35_88, 0)
    # The minimum-payment warning: 2,211.06 at 24.99 % takes more than 36 months paying the minimum.
    assert s3.minimum_only_months is not None
    assert s3.minimum_only_months > 36
    assert s3.pay_in_36_monthly is not None
    assert s3.pay_in_36_total == s3.pay_in_36_monthly * 36
    # Each closing balance is the ledger's own balance at the close.
    for s in statements:
        assert receivable_as_of(session, account_id, billing.day_end(s.period_end)) == s.closing_balance
    fee = session.get(Transaction, s2.late_fee_transaction_id)
    assert fee is not None
    assert (fee.type, fee.amount, fee.posted_at) == (
        "fee",
        30_00,
        billing.day_end(date(2030, 4, 5)),
    )
    state = session.get(AccountBilling, account_id)
    assert state is not None
    assert (state.days_past_due, state.delinquency_bucket, state.past_due_amount) == (
        5,
        "1-29",
        56_24,
    )

    # May 5 passes unpaid as well: the second late fee within six cycles is $41; 35 days past due on May 10.
    _advance_to(app, session_factory, at(2030, 5, 11))
    session.expire_all()
    s3 = session.get_one(Statement, s3.id)
    assert s3.late_fee_amount == 41_00
    state = session.get_one(AccountBilling, account_id)
    assert (state.days_past_due, state.delinquency_bucket) == (35, "30-59")
    assert ledger.trial_balance(session).balanced
