"""Property tests of the billing rules: interest, minimum payment, due dates, allocation, warning."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

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
    gap = (due - close).days
    assert 21 <= gap <= 26  # Reg Z: at least 21 days; 25 in a 30-day month
    wanted = rules.due_day_of_month(cycle_day)
    last = calendar.monthrange(due.year, due.month)[1]
    assert due.day == min(wanted, last)  # the same day each month, as far as the calendar allows
    assert due < rules.next_close_after(close, cycle_day)  # due before the next cycle closes


def test_february_in_a_leap_year() -> None:
    assert rules.payment_due_date(date(2028, 2, 4), 4) == date(2028, 2, 29)
    assert rules.payment_due_date(date(2027, 2, 4), 4) == date(2027, 2, 28)
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
