"""The world's billing audit: issue 20's rules checked on what the platform shows its customers.

Written from the rules (``../shared/REGZ.md``), not from ``api.billing``: it imports none of it,
and reads only what a cardholder is shown (an account, its statements, its transactions), as
plain records, so that both modes (HTTP and ``--bulk``) hand it the same facts. Each check
counts violations; a sound world has none.

- ``late_fees_when_nothing_owed``: a late fee on a statement whose required amount at the due
  date was zero. What had to arrive is the smaller of the minimum not yet paid and what is
  still owed on the statement (its balance less the payments and refunds since the close):
  "nothing owed means nothing late" (R5, R6).
- ``late_fees_over_amount_due``: a late fee above that amount (12 CFR 1026.52(b)(2)(i)).
- ``penalty_fees_beyond_one_per_missed_minimum``: more fee postings than statements charged a
  late fee (the world makes no disputes, so its only penalty fees are late fees;
  1026.52(b)(2)(ii)).
- ``accounts_paid_on_time_but_past_due``: an open account whose latest minimum shown was paid
  by its due date, yet past due. The minimum shown includes what is past due, so paying each
  minimum shown (after a miss too) brings the account current.
- ``cycles_without_exactly_one_statement``: a gap, an overlap or a missing close among an
  account's statements (every cycle of every open account has exactly one statement).

A payment counts from the day after the statement closed (posted after the close, so not in
its balance) if the cardholder made it (``created_at``) by the end of the due date
(12 CFR 1026.10(a)); a payment returned (``reversal``) pays nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

CHECKS = (
    "late_fees_when_nothing_owed",
    "late_fees_over_amount_due",
    "penalty_fees_beyond_one_per_missed_minimum",
    "accounts_paid_on_time_but_past_due",
    "cycles_without_exactly_one_statement",
)


@dataclass(frozen=True)
class AccountFacts:
    """What a cardholder is shown: the account, its statements (oldest first) and its posted
    payments, refunds, payment returns and fees."""

    account: Mapping[str, Any]
    statements: Sequence[Mapping[str, Any]]
    transactions: Sequence[Mapping[str, Any]]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _day(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return date.fromisoformat(str(value))


def _required_at_due(statement: Mapping[str, Any], transactions: Sequence[Mapping[str, Any]]) -> int:
    """What had to arrive by the statement's due date (see the module docstring)."""
    after_close = _day_start(_day(statement["period_end"]) + timedelta(days=1))
    by_due = _day_start(_day(statement["due_date"]) + timedelta(days=1))
    returned: dict[str, int] = {}
    for t in transactions:
        original = t.get("original_transaction_id")
        if t["type"] == "reversal" and original:
            returned[original] = returned.get(original, 0) + t["amount"]
    paid: int = sum(
        t["amount"] - returned.get(t["id"], 0)
        for t in transactions
        if t["type"] == "payment"
        and _moment(t["posted_at"]) >= after_close
        and _moment(t["created_at"]) < by_due
    )
    refunded: int = sum(
        t["amount"]
        for t in transactions
        if t["type"] == "refund" and after_close <= _moment(t["posted_at"]) < by_due
    )
    unpaid_minimum = max(int(statement["minimum_payment"]) - paid, 0)
    return min(unpaid_minimum, max(int(statement["closing_balance"]) - paid - refunded, 0))


def _closes(cycle_day: int, opened: date, through: date) -> list[date]:
    """Every cycle close after the opening day, through ``through``."""
    closes, day = [], opened + timedelta(days=1)
    while day <= through:
        if day.day == cycle_day:
            closes.append(day)
        day += timedelta(days=1)
    return closes


def audit(accounts: Iterable[AccountFacts], *, last_day_run: date) -> dict[str, int]:
    """The violations of each check (:data:`CHECKS`) over ``accounts``, the daily job having run
    through ``last_day_run``."""
    found = dict.fromkeys(CHECKS, 0)
    for facts in accounts:
        statements, transactions = facts.statements, facts.transactions
        charged = [s for s in statements if s["late_fee_amount"] > 0]
        for statement in charged:
            required = _required_at_due(statement, transactions)
            if required <= 0:
                found["late_fees_when_nothing_owed"] += 1
            elif statement["late_fee_amount"] > required:
                found["late_fees_over_amount_due"] += 1
        fees = sum(1 for t in transactions if t["type"] == "fee")
        found["penalty_fees_beyond_one_per_missed_minimum"] += max(fees - len(charged), 0)

        due = [s for s in statements if _day(s["due_date"]) <= last_day_run]
        if due and facts.account.get("status") != "closed" and _required_at_due(due[-1], transactions) == 0:
            if facts.account.get("days_past_due", 0) > 0:
                found["accounts_paid_on_time_but_past_due"] += 1

        opened = _moment(facts.account["opened_at"]).date()
        ends = [_day(s["period_end"]) for s in statements]
        starts = [_day(s["period_start"]) for s in statements]
        expected = _closes(int(facts.account["billing_cycle_day"]), opened, last_day_run)
        if facts.account.get("status") == "closed":  # charged off or closed: no closes after that
            expected = expected[: len(ends)]
        contiguous = all(starts[i] == ends[i - 1] + timedelta(days=1) for i in range(1, len(starts)))
        if ends != expected or not contiguous or (starts and starts[0] != opened):
            found["cycles_without_exactly_one_statement"] += 1
    return found
