"""Property tests of the billing rules: interest, minimum payment, due dates, allocation, warning."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.billing import rules

cents = st.integers(min_value=0, max_value=10**9)
aprs = st.integers(min_value=0, max_value=9_999)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


def test_round_half_up_is_named_and_exact() -> None:
    assert [rules.round_half_up(n, 10) for n in (14, 15, 16, -15)] == [1, 2, 2, -2]


@given(st.lists(cents, min_size=1, max_size=31), aprs)
def test_interest_is_adb_times_daily_rate_times_days(balances: list[int], apr: int) -> None:
    interest = rules.interest_charge(balances, apr)
    exact = sum(balances) * apr / (365 * 10_000)
    assert abs(interest - exact) <= 0.5
    assert interest >= 0
    # More balance never means less interest.
    assert rules.interest_charge([b + 1 for b in balances], apr) >= interest


@given(cents, st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**5))
def test_minimum_payment_bounds(balance: int, interest: int, fees: int) -> None:
    minimum = rules.minimum_payment(balance, interest=interest, fees=fees)
    if balance == 0:
        assert minimum == 0
    elif balance < 25_00:
        assert minimum == balance
    else:
        assert 25_00 <= minimum <= balance
        assert (
            minimum == balance
            or minimum >= rules.round_half_up(balance, 100) + interest + fees
            or minimum == 25_00
        )


@given(days, st.integers(min_value=1, max_value=28))
def test_due_dates_across_month_ends_and_leap_years(day: date, cycle_day: int) -> None:
    close = rules.next_close_after(day, cycle_day)
    assert close > day
    assert close.day == cycle_day
    assert (close - day).days <= 31
    due = rules.payment_due_date(close, cycle_day)
    assert 21 <= (due - close).days  # 12 CFR 1026.5(b)(2)(ii)(A): at least 21 days
    assert due.day == rules.due_day_of_month(cycle_day)  # never clamped: the same day every month
    assert due < rules.next_close_after(close, cycle_day)  # due before the next cycle closes


def _closes(cycle_day: int, first: date, last: date) -> list[date]:
    closes, close = [], rules.next_close_after(first, cycle_day)
    while close <= last:
        closes.append(close)
        close = rules.next_close_after(close, cycle_day)
    return closes


@pytest.mark.parametrize("cycle_day", range(1, 29))
def test_the_due_date_is_the_same_day_every_month(cycle_day: int) -> None:
    """Issue 20 item 6, every cycle day through 2023-2033 (leap years 2024, 2028, 2032).

    15 U.S.C. 1637(o)(1): "The payment due date for a credit card account under an open end
    consumer credit plan shall be the same day each month." The Board's commentary to 12 CFR
    1026.7(b)(11)(i)(A) (as quoted by NAFCU, 2010-01-21): "the due date must generally be the
    same numerical date. For example, a consumer's due date could be the 25th of every month
    ... However, a consumer's due date may be the last day of each month". 12 CFR
    1026.5(b)(2)(ii)(A): the statement is sent "not later than 21 days before the payment
    due date"; and a due date belongs to its own cycle, before the next one closes.
    """
    dues = [
        (close, rules.payment_due_date(close, cycle_day))
        for close in _closes(cycle_day, date(2022, 12, 31), date(2033, 12, 31))
    ]
    assert len(dues) == 11 * 12
    days_of_month = {due.day for _, due in dues}
    last_day_every_time = all(due.day == calendar.monthrange(due.year, due.month)[1] for _, due in dues)
    assert len(days_of_month) == 1 or last_day_every_time, sorted(days_of_month)
    for close, due in dues:
        assert (due - close).days >= 21, (close, due)
        assert due < rules.next_close_after(close, cycle_day), (close, due)


def test_february_keeps_the_due_day() -> None:
    """Cycle day 4 fell due on the 29th of January but the 28th of February (the 29th in 2028)."""
    assert rules.payment_due_date(date(2027, 1, 4), 4) == date(2027, 1, 28)
    assert rules.payment_due_date(date(2027, 2, 4), 4) == date(2027, 2, 28)
    assert rules.payment_due_date(date(2028, 2, 4), 4) == date(2028, 2, 28)
    assert rules.payment_due_date(date(2028, 2, 5), 5) == date(2028, 2, 28)
    assert rules.payment_due_date(date(2028, 1, 28), 28) == date(2028, 2, 23)


@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(["purchase", "refund", "payment", "fee"]), cents),
        max_size=20,
    ),
    cents,
)
def test_daily_balances_end_at_the_closing_balance(items: list[tuple[int, str, int]], opening: int) -> None:
    start = date(2028, 1, 31)
    end = start + timedelta(days=30)
    postings = [rules.Posting(start + timedelta(days=d), t, a) for d, t, a in items]
    balances = rules.daily_balances(opening=opening, postings=postings, start=start, end=end)
    assert len(balances) == 31
    closing = opening + sum(p.signed for p in postings)
    assert balances[-1] == max(closing, 0)


@given(cents, st.lists(st.tuples(aprs, cents), min_size=1, max_size=3), cents)
def test_allocation_pays_highest_apr_first_above_the_minimum(
    amount: int, parts: list[tuple[int, int]], minimum: int
) -> None:
    classes = [rules.BalanceClass(f"c{i}", apr, balance) for i, (apr, balance) in enumerate(parts)]
    split = rules.allocate_payment(amount, classes, minimum_due=minimum)
    assert sum(split.values()) == amount
    for c in classes:
        assert 0 <= split[c.name] <= c.balance
    # Above the minimum, a lower-APR class is paid only once every higher-APR class is cleared.
    above = amount - min(amount, minimum)
    if above and len(classes) == 2 and classes[0].apr_bps != classes[1].apr_bps:
        high, low = sorted(classes, key=lambda c: -c.apr_bps)
        if split[low.name] > min(amount, minimum):
            assert split[high.name] == high.balance


def test_allocation_with_a_second_balance_class() -> None:
    purchases, cash = (
        rules.BalanceClass("purchases", 1_999, 500_00),
        rules.BalanceClass("cash", 2_999, 300_00),
    )
    assert rules.allocate_payment(400_00, [purchases, cash], minimum_due=50_00) == {
        "purchases": 100_00,
        "cash": 300_00,
    }
    assert rules.allocate_payment(900_00, [purchases, cash], minimum_due=50_00) == {
        "purchases": 500_00,
        "cash": 300_00,
        "": 100_00,
    }


@given(st.integers(min_value=1, max_value=5_000_000), st.integers(min_value=0, max_value=3_600))
def test_minimum_payment_warning(balance: int, apr: int) -> None:
    warning = rules.minimum_payment_warning(balance, apr)
    assert warning is not None
    assert warning.minimum_only_months >= 1
    assert warning.minimum_only_total >= balance
    if warning.minimum_only_months > 36:
        assert warning.pay_in_36_monthly is not None
        assert warning.pay_in_36_total is not None
        assert warning.pay_in_36_total >= balance
        # Faster repayment costs less interest (up to the level payment's rounding up, a cent a month).
        assert warning.pay_in_36_total <= warning.minimum_only_total + 36
    else:
        assert warning.pay_in_36_monthly is None


def test_late_fees_follow_the_dated_safe_harbour() -> None:
    assert (
        rules.late_fee(due_date=date(2030, 4, 5), minimum_due=56_24, late_in_previous_six_cycles=False)
        == 30_00
    )
    assert (
        rules.late_fee(due_date=date(2030, 4, 5), minimum_due=97_29, late_in_previous_six_cycles=True)
        == 41_00
    )
    assert (
        rules.late_fee(due_date=date(2030, 4, 5), minimum_due=25_00, late_in_previous_six_cycles=False)
        == 25_00
    )
    assert (
        rules.late_fee(due_date=date(2021, 6, 5), minimum_due=99_00, late_in_previous_six_cycles=False)
        == 29_00
    )
    assert rules.late_fee(due_date=date(2030, 4, 5), minimum_due=0, late_in_previous_six_cycles=True) == 0


def test_buckets() -> None:
    assert [rules.delinquency_bucket(d) for d in (0, 1, 29, 30, 59, 60, 89, 90, 180)] == [
        "current", "1-29", "1-29", "30-59", "30-59", "60-89", "60-89", "90+", "90+"
    ]  # fmt: skip
