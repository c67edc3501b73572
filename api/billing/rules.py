"""The billing rules, one function each, with the regulation it follows.

Pure functions: integers of cents, rates in basis points, dates; no database,
no clock. Sources are Regulation Z (Truth in Lending), 12 CFR Part 1026, as
amended by the CARD Act of 2009.

Rounding, named once: ``round_half_up`` -- a result in cents is exact integer
arithmetic over the whole computation, rounded once at the end, half a cent
and more up (the convention of Appendix M1 and of card issuers' disclosures).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal, localcontext
from types import MappingProxyType
from typing import Literal

BPS = 10_000
DAYS_IN_YEAR = 365  # the daily periodic rate is APR / 365, in leap years too
DUE_DAYS_AFTER_CLOSE = 25  # 12 CFR 1026.5(b)(2)(ii)(A) requires at least 21
MINIMUM_PAYMENT_FLOOR = 25_00
MINIMUM_PAYMENT_PERCENT_BPS = 100  # 1 % of the balance
CHARGE_OFF_DAYS_PAST_DUE = 180  # FFIEC Uniform Retail Credit Classification policy (open-end: 180 days)
LATE_FEE_LOOKBACK_CYCLES = 6

# The sign of each transaction type on what the customer owes (the receivable), once posted:
# +1 raises it, -1 lowers it. A "reversal" is a returned payment re-debited (api.payments); a
# "recovery" raises a charged-off account's receivable back to zero against the recovery
# account, and a "recovery_return" undoes it (api.billing.recoveries). The warehouse's copy is
# the dbt macro ``balance_sign`` (dbt/macros/balance_sign.sql), pinned to this one by
# tests/dbt/test_rules_pinned.py.
BALANCE_SIGN: Mapping[str, int] = MappingProxyType(
    {
        "purchase": 1,
        "interest": 1,
        "fee": 1,
        "reversal": 1,
        "recovery": 1,
        "refund": -1,
        "payment": -1,
        "recovery_return": -1,
    }
)
DEBIT_TYPES = frozenset(kind for kind, sign in BALANCE_SIGN.items() if sign > 0)
CREDIT_TYPES = frozenset(kind for kind, sign in BALANCE_SIGN.items() if sign < 0)


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` to the nearest integer, halves up (away from zero for negatives)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    return sign * (quotient + (1 if 2 * remainder >= denominator else 0))


# --- Cycles and due dates --------------------------------------------------------------------


def days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def next_close_after(day: date, cycle_day: int) -> date:
    """The first cycle-closing date strictly after ``day`` (cycle days are 1..28: every month has one)."""
    if not 1 <= cycle_day <= 28:
        raise ValueError("cycle_day must be 1..28")
    if day.day < cycle_day:
        return day.replace(day=cycle_day)
    year, month = _add_months(day.year, day.month, 1)
    return date(year, month, cycle_day)


def due_day_of_month(cycle_day: int) -> int:
    """The day of the month payments fall due for a cycle closing on ``cycle_day`` (1..28).

    The same numerical day every month (15 U.S.C. 1637(o)(1); 12 CFR 1026.7(b)(11)(i)(A)
    and its commentary: "the due date must generally be the same numerical date", e.g. the
    25th of every month), so it is never past the 28th, which every month has. 25 days after
    the close in a 30-day month where that fits: ``cycle_day + 25`` for cycle days 1..3 (26th
    to 28th of the closing month), the 28th for cycle days 4 and 5 (24 and 23 days after the
    close), ``cycle_day - 5`` of the next month for cycle days 6..28. Every choice keeps at
    least 21 days between the close and the due date in every month (1026.5(b)(2)(ii)(A)):
    a due day ``d`` in the next month is ``days_in(closing month) - cycle_day + d >= 28 - 5``
    days after the close, one in the closing month ``d - cycle_day >= 23`` days.
    """
    if not 1 <= cycle_day <= 28:
        raise ValueError("cycle_day must be 1..28")
    if cycle_day + DUE_DAYS_AFTER_CLOSE <= 28:
        return cycle_day + DUE_DAYS_AFTER_CLOSE
    if cycle_day - 5 >= 1:
        return cycle_day - 5
    return 28


def payment_due_date(close: date, cycle_day: int) -> date:
    """The due date of the statement that closes on ``close``.

    15 U.S.C. 1637(o)(1): "The payment due date for a credit card account under an open end
    consumer credit plan shall be the same day each month." 12 CFR 1026.7(b)(11)(i)(A): the
    statement shows that date. 12 CFR 1026.5(b)(2)(ii)(A): the statement goes out at least
    21 days before it. ``due_day_of_month`` is a day every month has, so the date is never
    clamped (a clamp moved the due date of cycle days 4 and 5 in February, issue 20 item 6);
    it falls 23 to 26 days after the close and before the next close.
    """
    due_day = due_day_of_month(cycle_day)
    year, month = (
        (close.year, close.month) if due_day > cycle_day else _add_months(close.year, close.month, 1)
    )
    return date(year, month, due_day)


# --- Interest ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posting:
    """A posted transaction as billing sees it: its day, type and (positive) amount."""

    on: date
    type: str
    amount: int

    @property
    def signed(self) -> int:
        return self.amount if self.type in DEBIT_TYPES else -self.amount


def daily_balances(
    *,
    opening: int,
    postings: Iterable[Posting],
    start: date,
    end: date,
    repaid_within_grace: int = 0,
) -> list[int]:
    """The balance subject to interest at the end of each day of the cycle [start, end].

    Average daily balance *including new purchases*: every posted debit and
    credit counts from the day it posts (12 CFR 1026.7(b)(5), model clause
    G-1 "average daily balance (including new purchases)"). Only days of this
    cycle are used: no two-cycle billing (12 CFR 1026.54(a)(1)(i)). A credit
    balance earns nothing: a day's balance is at least zero.

    ``repaid_within_grace``: the part of the previous statement's balance that
    was subject to a grace period and repaid by its due date. Interest may not
    be charged on it (12 CFR 1026.54(a)(1)(ii)), so those payments count as if
    made on the first day of the cycle.
    """
    by_day: dict[date, int] = {}
    moved = 0
    for posting in sorted(postings, key=lambda p: p.on):
        if not start <= posting.on <= end:
            raise ValueError(f"posting on {posting.on} is outside the cycle {start}..{end}")
        amount = posting.signed
        if posting.type == "payment" and moved < repaid_within_grace:
            shift = min(posting.amount, repaid_within_grace - moved)
            moved += shift
            by_day[start] = by_day.get(start, 0) - shift
            amount += shift
        by_day[posting.on] = by_day.get(posting.on, 0) + amount
    balances = []
    balance = opening
    day = start
    while day <= end:
        balance += by_day.get(day, 0)
        balances.append(max(balance, 0))
        day += timedelta(days=1)
    return balances


def average_daily_balance(balances: Sequence[int]) -> int:
    """The sum of the daily balances over the number of days, in cents (round_half_up)."""
    return round_half_up(sum(balances), len(balances)) if balances else 0


def interest_charge(balances: Sequence[int], apr_bps: int) -> int:
    """Interest for a cycle: average daily balance x daily periodic rate x days in the cycle.

    The daily periodic rate is APR / 365 (12 CFR 1026.7(b)(4), 1026.6(b)(4)(i)).
    ADB x (APR / 365) x days = (sum of daily balances) x APR / 365: computed
    exactly in integers, rounded once with ``round_half_up``.
    """
    return round_half_up(sum(balances) * apr_bps, DAYS_IN_YEAR * BPS)


def grace_period_applies(*, previous_balance: int | None, credited_by_due_date: int) -> bool:
    """No interest on purchases this cycle when the previous statement balance was paid in full.

    12 CFR 1026.54 and comment 54(a)(1)-2: the grace period holds when there was
    no previous statement, or nothing was owed on it, or payments and credits
    received by its due date covered its whole balance. When it holds, the
    cycle bears no interest at all, which is also why a balance paid in full
    leaves no trailing (residual) interest behind it.
    """
    if previous_balance is None or previous_balance <= 0:
        return True
    return credited_by_due_date >= previous_balance


# --- Minimum payment, late fees -----------------------------------------------------------------


def minimum_payment(balance: int, *, interest: int, fees: int) -> int:
    """The minimum payment due on a statement balance.

    Under $25, the whole balance; otherwise the larger of $25 and 1 % of the
    balance plus the cycle's interest and fees (the formula the CFPB's
    repayment calculator and most issuers use, cf. 12 CFR 1026.7(b)(12) and
    comment 7(b)(12)(i)-5), never more than the balance. 1 % rounds half up.
    """
    if balance <= 0:
        return 0
    if balance < MINIMUM_PAYMENT_FLOOR:
        return balance
    percent = round_half_up(balance * MINIMUM_PAYMENT_PERCENT_BPS, BPS)
    return min(balance, max(MINIMUM_PAYMENT_FLOOR, percent + interest + fees))


def minimum_payment_due(balance: int, *, interest: int, fees: int, past_due: int) -> int:
    """The minimum payment a statement asks for: this cycle's (``minimum_payment``) plus what is
    past due from earlier ones, never more than the balance.

    Issuers' practice (REGZ.md, "the minimum payment ... includes any amount past due"), and
    what makes the rule "pay each minimum shown and the account is current" hold: a minimum that
    left the past-due amount out would let an account stay past due for ever while every
    minimum shown is paid.
    """
    if balance <= 0:
        return 0
    return min(balance, minimum_payment(balance, interest=interest, fees=fees) + max(past_due, 0))


@dataclass(frozen=True)
class LateFeeSchedule:
    effective_from: date
    first: int
    subsequent: int


# 12 CFR 1026.52(b)(1)(ii)(A)-(B): the safe-harbour penalty fees, adjusted
# yearly for inflation (comment 52(b)(1)(ii)-2); a dated setting, newest last.
# $30 / $41 since 2022-01-01 (87 FR 29613); the 2024 $8 rule was vacated (2025).
LATE_FEE_SCHEDULES: tuple[LateFeeSchedule, ...] = (
    LateFeeSchedule(date(2021, 1, 1), 29_00, 40_00),
    LateFeeSchedule(date(2022, 1, 1), 30_00, 41_00),
)


def late_fee_schedule(on: date, schedules: Sequence[LateFeeSchedule] = LATE_FEE_SCHEDULES) -> LateFeeSchedule:
    applicable = [s for s in schedules if s.effective_from <= on]
    return max(applicable, key=lambda s: s.effective_from) if applicable else schedules[0]


def late_fee(*, due_date: date, minimum_due: int, late_in_previous_six_cycles: bool) -> int:
    """The late fee for a minimum payment missed at its due date.

    12 CFR 1026.52(b)(1)(ii): $30 for the first violation, $41 for another in
    the next six billing cycles (the safe harbour of the due date's year);
    1026.52(b)(2)(i)(A): never more than the dollar amount associated with the
    violation, i.e. the minimum payment that was due. One fee per missed
    payment (1026.52(b)(2)(ii)) is kept by the caller.
    """
    if minimum_due <= 0:
        return 0
    schedule = late_fee_schedule(due_date)
    fee = schedule.subsequent if late_in_previous_six_cycles else schedule.first
    return min(fee, minimum_due)


# --- Delinquency -------------------------------------------------------------------------------


def delinquency_bucket(days_past_due: int) -> str:
    """The conventional 30-day buckets reported to bureaus (Metro 2): current, 1-29, ..., 90+."""
    if days_past_due <= 0:
        return "current"
    if days_past_due < 30:
        return "1-29"
    if days_past_due < 60:
        return "30-59"
    if days_past_due < 90:
        return "60-89"
    return "90+"


# --- Payment allocation ------------------------------------------------------------------------


@dataclass(frozen=True)
class BalanceClass:
    """A part of the balance with its own APR (purchases today; cash advances, promotions later)."""

    name: str
    apr_bps: int
    balance: int


def allocate_payment(amount: int, classes: Sequence[BalanceClass], *, minimum_due: int) -> dict[str, int]:
    """How a payment is split over balance classes.

    12 CFR 1026.53(a): the amount above the minimum payment goes to the
    balance with the highest APR first, then the next highest. The minimum
    itself may be applied as the issuer chooses; we apply it lowest APR first
    (the common practice). Whatever exceeds every balance stays unallocated
    (a credit balance, key ``""``).
    """
    remaining = {c.name: max(c.balance, 0) for c in classes}
    split = dict.fromkeys(remaining, 0)
    to_minimum = min(amount, minimum_due)
    above = amount - to_minimum
    for portion, order in (
        (to_minimum, sorted(classes, key=lambda c: (c.apr_bps, c.name))),
        (above, sorted(classes, key=lambda c: (-c.apr_bps, c.name))),
    ):
        for balance_class in order:
            take = min(portion, remaining[balance_class.name])
            split[balance_class.name] += take
            remaining[balance_class.name] -= take
            portion -= take
        if portion:
            split[""] = split.get("", 0) + portion
    return split


# --- The minimum-payment warning --------------------------------------------------------------

MAX_REPAYMENT_MONTHS = 1200
PAY_OFF_MONTHS = 36  # 12 CFR 1026.7(b)(12)(i)(F): "repayment in 36 months"
MONTHS_SHOWN_BELOW = 24  # 1026.7(b)(12)(i)(B): an estimate under 2 years is shown in months

# A minimum payment formula for the warning: (balance with the month's interest, that
# interest) -> the payment. Ours is ``minimum_payment`` with no fees (Appendix M1 (b)(1):
# "card issuers must use the minimum payment formula(s) that apply to a cardholder's account").
MinimumFormula = Callable[[int, int], int]


def _our_minimum(balance: int, interest: int) -> int:
    return minimum_payment(balance, interest=interest, fees=0)


@dataclass(frozen=True)
class RepaymentWarning:
    """The exact estimates behind the warning, as a statement row stores them (cents, months).

    ``minimum_only_months`` and ``minimum_only_total`` are None when minimum payments never
    repay the balance (negative or no amortization, 12 CFR 1026.7(b)(12)(ii)).
    """

    minimum_only_months: int | None
    minimum_only_total: int | None
    pay_in_36_monthly: int | None
    pay_in_36_total: int | None


def minimum_payment_warning(
    balance: int, apr_bps: int, *, minimum: MinimumFormula = _our_minimum
) -> RepaymentWarning | None:
    """The repayment estimates of 12 CFR 1026.7(b)(12) and Appendix M1, exact to the cent.

    Appendix M1's assumptions: the statement's balance, the APR unchanged, only minimum
    payments, no new charges. Each month's interest is balance x APR / 12, the periodic rate
    of Appendix M2's calculation ((APR / 365) x (365 / 12) days), rounded half up to the
    cent; the payment is ``minimum`` on the balance with that interest, the last one what is
    left. Months and the total paid are counted to the last cent; ``disclose_warning``
    rounds them for the statement. The level payment that repays the balance in 36 months
    (``level_payment``) and its total are given whenever the minimum takes longer than 36
    months or never repays (1026.7(b)(12)(ii) shows them then too).

    When a minimum payment does not exceed the month's interest the balance never falls:
    negative or no amortization, months and total None.
    """
    if balance <= 0:
        return None
    months, total, owed = 0, 0, balance
    while owed > 0 and months < MAX_REPAYMENT_MONTHS:
        interest = round_half_up(owed * apr_bps, 12 * BPS)
        owed += interest
        payment = min(minimum(owed, interest), owed)
        if payment <= interest and payment < owed:
            monthly = level_payment(balance, apr_bps, PAY_OFF_MONTHS)
            return RepaymentWarning(None, None, monthly, monthly * PAY_OFF_MONTHS)
        owed -= payment
        total += payment
        months += 1
    if months <= PAY_OFF_MONTHS:
        return RepaymentWarning(months, total, None, None)
    monthly = level_payment(balance, apr_bps, PAY_OFF_MONTHS)
    return RepaymentWarning(months, total, monthly, monthly * PAY_OFF_MONTHS)


def round_to_dollar(cents: int) -> int:
    """Cents rounded to the nearest whole dollar, halves up, still in cents (12 CFR 1026.7(b)(12)(i)(C))."""
    return round_half_up(cents, 100) * 100


WarningKind = Literal["over_3_years", "3_years_or_less", "negative_amortization"]


@dataclass(frozen=True)
class WarningDisclosure:
    """The minimum payment warning as the statement prints it: periods and dollars rounded.

    ``kind`` names the model form: G-18(C)(1) "over_3_years" (the 36-month line and its
    savings), G-18(C)(2) "3_years_or_less" (no 36-month line), G-18(C)(3)
    "negative_amortization" (never repaid at the minimum; the 36-month line only). Money is
    in cents, each a whole number of dollars. The repayment period is in months when under
    2 years, else in whole years.
    """

    kind: WarningKind
    repayment_period_months: int | None
    repayment_period_years: int | None
    minimum_only_total: int | None
    pay_in_36_monthly: int | None
    pay_in_36_total: int | None
    savings: int | None

    @property
    def repayment_period(self) -> str:
        """ "11 months", "1 month", "10 years"; "" when never repaid."""
        if self.repayment_period_months is not None:
            n, unit = self.repayment_period_months, "month"
        elif self.repayment_period_years is not None:
            n, unit = self.repayment_period_years, "year"
        else:
            return ""
        return f"{n} {unit}{'' if n == 1 else 's'}"


def repayment_years(months: int) -> int:
    """Months as the whole years 1026.7(b)(12)(i)(B) discloses: rounded to the nearest year, halves up.

    "Otherwise, the estimate must be disclosed in years and rounded to the nearest whole
    year": 29 months is 2 years, 42 months 4 years; the commentary's example to
    (b)(12)(i)(F)(2) has "2 years 6 months to 3 years 5 months" disclosed as 3 years, so a
    half year rounds up.
    """
    return round_half_up(months, 12)


def disclose_warning(
    *,
    minimum_only_months: int | None,
    minimum_only_total: int | None,
    pay_in_36_monthly: int | None,
    pay_in_36_total: int | None = None,
) -> WarningDisclosure | None:
    """The figures a statement prints, from the exact estimates a statement row holds.

    12 CFR 1026.7(b)(12)(i): (B) the minimum payment repayment estimate "in months" when it
    is "less than 2 years", otherwise "in years and rounded to the nearest whole year";
    (C), (F)(1)(i), (iii), (iv): the total cost, the estimated monthly payment for repayment
    in 36 months, its total cost and the savings rounded "either to the nearest whole dollar
    or to the nearest cent, at the card issuer's option": we round every one to the nearest
    whole dollar, as model form G-18(C)(1) shows them. (F)(2): the 36-month disclosures "are
    not required to be provided if the minimum payment repayment estimate ... after rounding
    is three years or less", and we leave them out then (issue 20 item 7: 37 to 41 months
    showed them, with a negative saving at a 0 % APR).

    The savings is the rounded minimum-only total less the rounded 36-month total, so the
    printed figures subtract as in G-18(C)(1)'s sample ($3,284 - $2,232 = $1,052), and never
    below zero (at a 0 % APR paying faster saves nothing; the level payment is rounded up to
    the cent, which may make its total a few cents more). The 36-month total is the exact
    one (``pay_in_36_monthly`` x 36 when not given) rounded, not the rounded monthly payment
    x 36, which would add up to $18 of rounding (36 x $0.50) to what the cardholder pays.
    """
    if pay_in_36_monthly is not None and pay_in_36_total is None:
        pay_in_36_total = pay_in_36_monthly * PAY_OFF_MONTHS
    if minimum_only_months is None or minimum_only_total is None:
        if pay_in_36_monthly is None or pay_in_36_total is None:
            return None
        return WarningDisclosure(
            kind="negative_amortization",
            repayment_period_months=None,
            repayment_period_years=None,
            minimum_only_total=None,
            pay_in_36_monthly=round_to_dollar(pay_in_36_monthly),
            pay_in_36_total=round_to_dollar(pay_in_36_total),
            savings=None,
        )
    total = round_to_dollar(minimum_only_total)
    if minimum_only_months < MONTHS_SHOWN_BELOW:
        months, years = minimum_only_months, None
    else:
        months, years = None, repayment_years(minimum_only_months)
    if years is None or years <= PAY_OFF_MONTHS // 12 or pay_in_36_monthly is None or pay_in_36_total is None:
        return WarningDisclosure("3_years_or_less", months, years, total, None, None, None)
    monthly = round_to_dollar(pay_in_36_monthly)
    total_36 = round_to_dollar(pay_in_36_total)
    return WarningDisclosure(
        kind="over_3_years",
        repayment_period_months=None,
        repayment_period_years=years,
        minimum_only_total=total,
        pay_in_36_monthly=monthly,
        pay_in_36_total=total_36,
        savings=max(total - total_36, 0),
    )


def level_payment(balance: int, apr_bps: int, months: int) -> int:
    """The equal monthly payment that repays ``balance`` in ``months`` at APR / 12, up to the cent."""
    if apr_bps == 0:
        return -(-balance // months)
    with localcontext() as context:
        context.prec = 40
        rate = Decimal(apr_bps) / Decimal(12 * BPS)
        payment = Decimal(balance) * rate / (1 - (1 + rate) ** -months)
        return int(payment.to_integral_value(rounding=ROUND_CEILING))
