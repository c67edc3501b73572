"""Worked examples of Regulation Z as test vectors for the pure billing rules (issue 20, rules register).

Each figure is derived by hand from the rule's words, quoted beside it, not from our code.
Where an example follows the pattern of an official comment, the comment is named; the
dollar amounts are ours where the comment's were those of an earlier year (the safe
harbours are adjusted yearly for inflation, 1026.52(b)(1)(ii)(D)). The commentary's own
text could not be retrieved where this was written: its examples are followed in substance.
"""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

import pytest

from api.billing import rules

API = Path(__file__).resolve().parents[3] / "api"


# --- 12 CFR 1026.52(b): penalty fees ---------------------------------------------------------


def test_a_late_fee_never_exceeds_the_minimum_payment_due() -> None:
    """1026.52(b)(2)(i)(A): a penalty fee may not exceed "the dollar amount associated with the
    violation"; (b)(2)(i)(B)(1): for a late payment that is "the amount of the required minimum
    periodic payment due immediately prior to assessment of the late payment fee".

    The official commentary's example to 1026.52(b)(2)(i): a $15 required minimum payment not
    received by its due date allows a late fee of at most $15, below the $30 safe harbour and
    below the $41 repeat one.
    """
    due = date(2030, 3, 25)
    assert rules.late_fee(due_date=due, minimum_due=15_00, late_in_previous_six_cycles=False) == 15_00
    assert rules.late_fee(due_date=due, minimum_due=15_00, late_in_previous_six_cycles=True) == 15_00
    # Nothing due, nothing late: no fee at all.
    assert rules.late_fee(due_date=due, minimum_due=0, late_in_previous_six_cycles=True) == 0


def _repeat(missed: set[int], cycle: int) -> bool:
    """1026.52(b)(1)(ii)(B): the higher fee applies when a violation of the same type "occurred
    during one of the previous six billing cycles" (cycles numbered by their due month)."""
    return any(earlier in missed for earlier in range(cycle - 6, cycle))


@pytest.mark.parametrize(
    ("missed", "fees"),
    [
        # March and April missed: the first is a first violation, April's is a repeat within six cycles.
        ({3, 4}, {3: 30_00, 4: 41_00}),
        # April, then October: March..September are October's six previous cycles, April among them.
        ({4, 10}, {4: 30_00, 10: 41_00}),
        # April, then November: May..October hold no violation: a first violation again.
        ({4, 11}, {4: 30_00, 11: 30_00}),
    ],
)
def test_a_repeat_violation_is_one_within_the_six_previous_cycles(
    missed: set[int], fees: dict[int, int]
) -> None:
    """1026.52(b)(1)(ii)(A)-(B), the safe harbours of 2022 on ($30 first, $41 repeat, 87 FR 29613)
    and the six-cycle look-back, in the manner of the commentary's monthly examples (a $100
    minimum due on the 25th each month, so the fee is never capped by it)."""
    assert rules.LATE_FEE_LOOKBACK_CYCLES == 6
    for month in sorted(missed):
        fee = rules.late_fee(
            due_date=date(2030, month, 25),
            minimum_due=100_00,
            late_in_previous_six_cycles=_repeat(missed, month),
        )
        assert fee == fees[month], month


# --- 12 CFR 1026.54: no trailing interest, no double cycle -----------------------------------

APRIL = (date(2030, 4, 1), date(2030, 4, 30))
APR_15 = 1_500  # 15 %, the rate of the commentary's examples


def test_a_balance_paid_in_full_by_the_due_date_keeps_the_grace_period() -> None:
    """1026.54(a)(1) and comment 54(a)(1)-2: the grace period holds when the consumer pays the
    previous statement's balance in full by the due date: no interest on the cycle at all."""
    assert rules.grace_period_applies(previous_balance=500_00, credited_by_due_date=500_00)
    assert rules.grace_period_applies(previous_balance=None, credited_by_due_date=0)
    assert not rules.grace_period_applies(previous_balance=500_00, credited_by_due_date=300_00)


def test_no_interest_on_the_part_repaid_within_the_grace_period() -> None:
    """1026.54(a)(1)(ii): no finance charge "based on any portion of a balance subject to a grace
    period that was repaid prior to the expiration of the grace period"; (a)(1)(i): none on
    "balances for days in billing cycles that precede the most recent billing cycle".

    A $500 purchase balance under a grace period closes March 31, due April 25; the consumer
    pays $300 on April 25, so the grace period is lost. April's interest (APR 15 %, daily
    rate APR / 365, 30 days) may fall only on the $200 not repaid, and only on April's days:
    $200 x 30 x 0.15 / 365 = $2.4657... -> $2.47. Charging the $300 until it was paid would
    have been $500 x 24 days + $200 x 6 days = $13,200 day-dollars -> $5.4246... -> $5.42.
    """
    payment = rules.Posting(date(2030, 4, 25), "payment", 300_00)
    lawful = rules.daily_balances(
        opening=500_00, postings=[payment], start=APRIL[0], end=APRIL[1], repaid_within_grace=300_00
    )
    assert lawful == [200_00] * 30
    assert rules.interest_charge(lawful, APR_15) == 2_47
    trailing = rules.daily_balances(opening=500_00, postings=[payment], start=APRIL[0], end=APRIL[1])
    assert rules.interest_charge(trailing, APR_15) == 5_42


def test_interest_never_reaches_back_into_an_earlier_cycle() -> None:
    """1026.54(a)(1)(i): a posting of March cannot enter April's balances (two-cycle billing)."""
    with pytest.raises(ValueError, match="outside the cycle"):
        rules.daily_balances(
            opening=0,
            postings=[rules.Posting(date(2030, 3, 15), "purchase", 500_00)],
            start=APRIL[0],
            end=APRIL[1],
        )


# --- 12 CFR 1026.52(a): fees in the first year -----------------------------------------------

PENALTY_FEE_FUNCTIONS = ("late_fee", "returned_payment_fee")


def _fee_income_postings() -> list[tuple[str, str]]:
    """(file, function) of every use of the ledger's fee-income account under api/."""
    found = []
    for path in sorted(API.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and node.attr == "FEE_INCOME":
                    found.append((str(path.relative_to(API.parent)), function.name))
    return found


def test_the_only_fees_are_penalty_fees() -> None:
    """1026.52(a)(1): fees in the first year are at most 25 % of the initial credit limit;
    (a)(2)(ii): late payment, over-the-limit and returned-payment fees are not counted. The
    product charges no other fee (no annual, account or cash fee), so the cap holds with $0.
    Every posting to fee income happens in a late-fee or returned-payment-fee function; a new
    kind of fee fails here until it is checked against the cap and named in ``api.regz``.
    """
    postings = _fee_income_postings()
    assert postings, "no fee postings found: the scan is broken"
    for file, function in postings:
        assert any(name in function for name in PENALTY_FEE_FUNCTIONS), (file, function)
