"""The world's billing audit finds each violation it names, on facts planted by hand."""

from __future__ import annotations

from datetime import date
from typing import Any

from simulator.audit import CHECKS, AccountFacts, audit

ACCOUNT = {
    "opened_at": "2031-01-03T12:00:00Z",
    "billing_cycle_day": 3,
    "status": "active",
    "days_past_due": 0,
}


def _statement(**overrides: Any) -> dict[str, Any]:
    statement = {
        "period_start": "2031-01-03",
        "period_end": "2031-02-03",
        "due_date": "2031-02-28",
        "closing_balance": 600_00,
        "minimum_payment": 25_00,
        "late_fee_amount": 0,
    }
    return {**statement, **overrides}


def _txn(type_: str, amount: int, created: str, posted: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"txn_{type_}_{created}",
        "type": type_,
        "amount": amount,
        "created_at": created,
        "posted_at": posted or created,
        **extra,
    }


def _found(facts: AccountFacts, last_day_run: date = date(2031, 3, 1)) -> dict[str, int]:
    return {k: v for k, v in audit([facts], last_day_run=last_day_run).items() if v}


def test_a_sound_account_has_no_violation() -> None:
    paid = [_txn("payment", 25_00, "2031-02-10T12:00:00Z")]
    assert _found(AccountFacts(ACCOUNT, [_statement()], paid)) == {}
    assert set(audit([], last_day_run=date(2031, 3, 1))) == set(CHECKS)


def test_a_late_fee_after_a_refund_of_everything_is_found() -> None:
    charged = _statement(late_fee_amount=25_00)
    facts = [_txn("refund", 600_00, "2031-02-10T12:00:00Z"), _txn("fee", 25_00, "2031-02-28T23:59:59Z")]
    assert _found(AccountFacts(ACCOUNT, [charged], facts)) == {"late_fees_when_nothing_owed": 1}


def test_a_fee_above_what_was_due_is_found() -> None:
    """$590 of $600 refunded: $10 was due; a $25 fee is $15 too much."""
    charged = _statement(late_fee_amount=25_00)
    facts = [_txn("refund", 590_00, "2031-02-10T12:00:00Z"), _txn("fee", 25_00, "2031-02-28T23:59:59Z")]
    found = _found(AccountFacts({**ACCOUNT, "days_past_due": 1}, [charged], facts))
    assert found == {"late_fees_over_amount_due": 1}


def test_a_payment_made_by_the_due_date_and_posted_after_is_on_time() -> None:
    """Made 23:50 on the due date, confirmed after midnight: a fee for it is a fee on nothing due."""
    charged = _statement(late_fee_amount=25_00)
    late_posting = _txn("payment", 25_00, "2031-02-28T23:50:00Z", "2031-03-01T00:10:00Z")
    facts = [late_posting, _txn("fee", 25_00, "2031-02-28T23:59:59Z")]
    assert _found(AccountFacts(ACCOUNT, [charged], facts)) == {"late_fees_when_nothing_owed": 1}


def test_two_fees_for_one_missed_minimum_are_found() -> None:
    charged = _statement(late_fee_amount=25_00)
    fees = [_txn("fee", 25_00, "2031-02-22T12:00:00Z"), _txn("fee", 25_00, "2031-02-28T23:59:59Z")]
    found = _found(AccountFacts({**ACCOUNT, "days_past_due": 1}, [charged], fees))
    assert found == {"penalty_fees_beyond_one_per_missed_minimum": 1}


def test_past_due_after_every_minimum_was_paid_is_found() -> None:
    paid = [_txn("payment", 25_00, "2031-02-10T12:00:00Z")]
    found = _found(AccountFacts({**ACCOUNT, "days_past_due": 1}, [_statement()], paid))
    assert found == {"accounts_paid_on_time_but_past_due": 1}


def test_a_missing_or_overlapping_cycle_is_found() -> None:
    missing = AccountFacts(ACCOUNT, [], [])
    assert _found(missing) == {"cycles_without_exactly_one_statement": 1}
    second = _statement(period_start="2031-02-01", period_end="2031-03-03", due_date="2031-03-28")
    overlapping = AccountFacts(
        ACCOUNT, [_statement(), second], [_txn("payment", 25_00, "2031-02-10T12:00:00Z")]
    )
    assert _found(overlapping, date(2031, 3, 10)) == {"cycles_without_exactly_one_statement": 1}


def test_past_due_after_the_latest_minimum_shown_was_paid_is_found() -> None:
    """One miss, then the next minimum shown paid on time: the account must be current, since
    that minimum includes what was past due (issue 20's finding 3)."""
    missed = _statement(late_fee_amount=25_00)
    second = _statement(
        period_start="2031-02-04", period_end="2031-03-03", due_date="2031-03-28", minimum_payment=60_00
    )
    paid = [_txn("fee", 25_00, "2031-02-28T23:59:59Z"), _txn("payment", 60_00, "2031-03-10T12:00:00Z")]
    found = _found(AccountFacts({**ACCOUNT, "days_past_due": 9}, [missed, second], paid), date(2031, 4, 2))
    assert found == {"accounts_paid_on_time_but_past_due": 1}
    current = AccountFacts(ACCOUNT, [missed, second], paid)
    assert _found(current, date(2031, 4, 2)) == {}
