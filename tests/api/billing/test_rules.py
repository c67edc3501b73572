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
    assert warning.minimum_only_months is not None  # our minimum always amortizes (1 % + interest)
    assert warning.minimum_only_total is not None
    assert warning.minimum_only_months >= 1
    assert warning.minimum_only_total >= balance
    if warning.minimum_only_months > 36:
        assert warning.pay_in_36_monthly is not None
        assert warning.pay_in_36_total == warning.pay_in_36_monthly * 36
        assert warning.pay_in_36_total >= balance  # the level payment is rounded up to the cent
    else:
        assert warning.pay_in_36_monthly is None


@given(st.integers(min_value=1, max_value=5_000_000), st.integers(min_value=0, max_value=3_600))
def test_the_disclosed_warning_rounds_as_1026_7_b_12_says(balance: int, apr: int) -> None:
    """12 CFR 1026.7(b)(12)(i), checked on every figure the statement prints.

    (B) "If the minimum payment repayment estimate is less than 2 years, the card issuer must
    disclose the estimate in months. Otherwise, the estimate must be disclosed in years and
    rounded to the nearest whole year." (C), (F)(1): the dollar figures rounded "to the
    nearest whole dollar or to the nearest cent, at the card issuer's option" (we print whole
    dollars). (F)(2): the 36-month disclosures "are not required to be provided if the minimum
    payment repayment estimate ... after rounding is three years or less"; (F)(1)(iv): the
    savings is the minimum-only total cost less the 36-month total cost, so never negative.
    """
    warning = rules.minimum_payment_warning(balance, apr)
    assert warning is not None
    assert warning.minimum_only_months is not None
    assert warning.minimum_only_total is not None
    shown = rules.disclose_warning(
        minimum_only_months=warning.minimum_only_months,
        minimum_only_total=warning.minimum_only_total,
        pay_in_36_monthly=warning.pay_in_36_monthly,
        pay_in_36_total=warning.pay_in_36_total,
    )
    assert shown is not None
    months = warning.minimum_only_months
    if months < 24:
        assert (shown.repayment_period_months, shown.repayment_period_years) == (months, None)
        assert shown.repayment_period == f"{months} month{'s' if months > 1 else ''}"
    else:
        years = shown.repayment_period_years
        assert shown.repayment_period_months is None
        assert years is not None
        assert abs(months - 12 * years) <= 6  # the nearest whole year
        assert shown.repayment_period == f"{years} years"
    assert shown.minimum_only_total is not None
    assert shown.minimum_only_total % 100 == 0
    assert abs(shown.minimum_only_total - warning.minimum_only_total) <= 50
    over_3_years = shown.repayment_period_years is not None and shown.repayment_period_years > 3
    assert shown.kind == ("over_3_years" if over_3_years else "3_years_or_less")
    if over_3_years:
        assert shown.pay_in_36_monthly is not None
        assert shown.pay_in_36_total is not None
        assert shown.pay_in_36_monthly % 100 == 0
        assert shown.pay_in_36_total % 100 == 0
        assert shown.savings == max(shown.minimum_only_total - shown.pay_in_36_total, 0)
        if apr >= 500:  # at 5 % APR and more, paying in 36 months saves whole dollars
            assert shown.savings is not None
            assert shown.savings > 0
    else:
        assert (shown.pay_in_36_monthly, shown.pay_in_36_total, shown.savings) == (None, None, None)


def test_model_form_g_18_c_1_sample() -> None:
    """Model form G-18(C)(1) (12 CFR part 1026, appendix G), its sample lines:

    "Only the minimum payment | 10 years | $3,284" and "$62 | 3 years | $2,232
    (Savings=$1,052)". Exact estimates that round to those figures print them.
    """
    shown = rules.disclose_warning(
        minimum_only_months=121, minimum_only_total=3_283_80, pay_in_36_monthly=61_99
    )
    assert shown == rules.WarningDisclosure(
        kind="over_3_years",
        repayment_period_months=None,
        repayment_period_years=10,
        minimum_only_total=3_284_00,
        pay_in_36_monthly=62_00,
        pay_in_36_total=2_232_00,
        savings=1_052_00,
    )
    assert shown.repayment_period == "10 years"


def test_three_years_or_less_after_rounding_has_no_36_month_line() -> None:
    """1026.7(b)(12)(i)(F)(2); model form G-18(C)(2). The official commentary, as NAFCU quotes it
    (compliance blog, 2010-01-25): "Minimum payment repayment estimate disclosed on the periodic
    statement is three years or less. Section 226.7(b)(12)(i)(F)(2)(i) provides that a credit
    card issuer is not required to provide the disclosures related to repayment in 36 months if
    the minimum payment repayment estimate disclosed under § 226.7(b)(12)(i)(B) after rounding
    is 3 years or less. For example, if the minimum payment repayment estimate is 2 years 6
    months to 3 years 5 months, ..." (30 to 41 months: 3 years after rounding).

    Before the fix $905.00 at 0 % APR (37 months) showed "3 years 1 month" and
    "$25.14 | 3 years | $905.04 (Savings = -$0.04)"; every estimate of 37 to 41 months showed
    the 36-month line.
    """
    for months in range(30, 42):  # 2 years 6 months to 3 years 5 months
        shown = rules.disclose_warning(
            minimum_only_months=months,
            minimum_only_total=900_00,
            pay_in_36_monthly=25_00 if months > 36 else None,
        )
        assert shown == rules.WarningDisclosure("3_years_or_less", None, 3, 900_00, None, None, None), months
    assert [rules.repayment_years(m) for m in (24, 29, 30, 41, 42, 47, 48)] == [2, 2, 3, 3, 4, 4, 4]
    warning = rules.minimum_payment_warning(905_00, 0)
    assert warning == rules.RepaymentWarning(37, 905_00, 25_14, 905_04)
    # Under 2 years, in months: 23 months is "23 months", 24 is "2 years".
    assert rules.disclose_warning(
        minimum_only_months=23, minimum_only_total=600_00, pay_in_36_monthly=None
    ) == rules.WarningDisclosure("3_years_or_less", 23, None, 600_00, None, None, None)


def test_zero_apr_over_3_years_saves_nothing_rather_than_less_than_nothing() -> None:
    """$100,000 at 0 % APR: 468 months at the minimum, the whole balance either way: savings $0."""
    warning = rules.minimum_payment_warning(100_000_00, 0)
    assert warning is not None
    assert warning.pay_in_36_monthly == 2_777_78  # $100,000 / 36, rounded up to the cent
    shown = rules.disclose_warning(
        minimum_only_months=warning.minimum_only_months,
        minimum_only_total=warning.minimum_only_total,
        pay_in_36_monthly=warning.pay_in_36_monthly,
        pay_in_36_total=warning.pay_in_36_total,
    )
    assert shown is not None
    assert (shown.minimum_only_total, shown.pay_in_36_total, shown.savings) == (100_000_00, 100_000_00, 0)


def test_negative_or_no_amortization_shows_only_the_36_month_line() -> None:
    """12 CFR 1026.7(b)(12)(ii), model form G-18(C)(3): a minimum that never repays the balance.

    Our own minimum always amortizes (1 % of the balance plus the interest), so an
    interest-only formula stands in: $1,000 at 12 % APR (1 % a month) pays $10 a month for
    ever. The level payment repaying $1,000 in 36 months at 1 % a month is
    1000 x 0.01 / (1 - 1.01^-36) = $33.2143... (the annuity formula), $33.22 rounded up to
    the cent: $33 a month and $1,195.92 -> $1,196 over 3 years.
    """
    warning = rules.minimum_payment_warning(1_000_00, 1_200, minimum=lambda _balance, interest: interest)
    assert warning == rules.RepaymentWarning(None, None, 33_22, 33_22 * 36)
    shown = rules.disclose_warning(
        minimum_only_months=None, minimum_only_total=None, pay_in_36_monthly=33_22, pay_in_36_total=1_195_92
    )
    assert shown == rules.WarningDisclosure("negative_amortization", None, None, None, 33_00, 1_196_00, None)
    assert shown.repayment_period == ""


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
