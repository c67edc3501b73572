"""Billing: an account's cycle, statement, late fees, delinquency and charge-off.

The rules themselves are pure functions in ``api.billing.rules``; this module applies them
to one account's facts, for one business day ``D``, under the account's lock
(``process_account_day``: steps 2-6 of the daily job, whose runner is ``api.jobs.daily``):

2. post the interest of the cycle closing on ``D``;
3. close that cycle and issue its statement;
4. charge a late fee where a statement's minimum payment was not received by its due date ``D``;
5. update the account's delinquency (days past due and bucket);
6. charge off what is 180 days past due.

Every step is idempotent on its own (a statement per account and closing day, a late fee
per statement, a charge-off per account, delinquency recomputed from the facts), so running
a day again changes nothing. ``carry_unchanged_delinquencies`` does step 5 at once for the
delinquent accounts where only time passed (no statement, due date, payment or return that
day): most of a book's delinquent accounts, most days.

Step 5 keeps each account's current state in ``account_billing`` and, in the same transaction,
each delinquent account's state that day in ``delinquency_days`` (a row per account and day,
replaced when the day runs again; no row: current): the one record of delinquency, which the
warehouse reports from (pipelines/README.md, "Delinquency").

Everything the job posts for day ``D`` is stamped at the last microsecond of ``D`` (UTC),
so it belongs to that day's cycle and to nothing earlier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.billing import repository, rules
from api.billing.models import AccountBilling, Statement
from api.ids import new_id
from api.ledger import service as ledger
from api.network import history
from api.network.models import Transaction

log = logging.getLogger("cardportal.billing")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_end(day: date) -> datetime:
    """When the job's postings for ``day`` are stamped: its last microsecond."""
    return datetime.combine(day, time.max, tzinfo=UTC)


# --- Statements ----------------------------------------------------------------------------------


def _post(
    session: Session, account: Account, *, type_: str, amount: int, house: ledger.House, at: datetime
) -> Transaction:
    """An interest or fee charge: through the ledger, and in the account's history."""
    transaction_id = new_id("txn")
    return history.post(
        session,
        direction="charge",
        account_id=account.id,
        type_=type_,
        amount=amount,
        against=house,
        currency=account.currency,
        now=at,
        reference=transaction_id,
        transaction_id=transaction_id,
    )


def _postings(transactions: Sequence[Any]) -> list[rules.Posting]:
    return [
        rules.Posting(t.posted_at.astimezone(UTC).date(), t.type, t.amount)
        for t in transactions
        if t.posted_at
    ]


def _sums(transactions: Sequence[Any]) -> dict[str, int]:
    sums = dict.fromkeys(repository.BILLED_TYPES, 0)
    for t in transactions:
        sums[t.type] += t.amount
    return sums


class PaymentsSince:
    """An account's payments, payment returns and merchant refunds posted from the day after its
    first statement closed through ``day`` (:func:`api.billing.repository.postings` rows): what
    its minimums were paid with, and what lowered what it owes. Read once, when late fees or
    delinquency first need them; ``statements``
    (the account's, through ``day``, oldest first) may grow by the statement closing on ``day``
    before then, which changes nothing (its payments would come after ``day``)."""

    def __init__(self, session: Session, account_id: str, statements: Sequence[Statement], day: date) -> None:
        self._session, self._account_id, self._statements, self._day = session, account_id, statements, day

    @cached_property
    def rows(self) -> Sequence[repository.PostingRow]:
        if not self._statements:
            return []
        return repository.postings(
            self._session,
            self._account_id,
            day_start(self._statements[0].period_end + timedelta(days=1)),
            day_start(self._day + timedelta(days=1)),
            types=("payment", "refund", repository.RETURN_TYPE),
        )


def close_cycle(
    session: Session,
    account: Account,
    day: date,
    statements: Sequence[Statement],
    *,
    past_due: Callable[[], int] = lambda: 0,
) -> Statement | None:
    """Charge the cycle's interest and issue the statement of the cycle closing on ``day``.

    ``statements``: the account's, closed by ``day``, oldest first. None when the account does
    not close a cycle on ``day`` or already did. ``past_due``: what of the earlier minimums is
    unpaid past its due date at this close (asked only when a statement is issued); the
    statement shows it and its minimum payment includes it (``rules.minimum_payment_due``).
    """
    if account.billing_cycle_day != day.day or account.opened_at.astimezone(UTC).date() >= day:
        return None
    if any(s.period_end == day for s in statements):
        return None
    previous = next((s for s in reversed(statements) if s.period_end < day), None)
    start = previous.period_end + timedelta(days=1) if previous else account.opened_at.astimezone(UTC).date()
    opening = previous.closing_balance if previous else 0
    next_day = day_start(day + timedelta(days=1))
    transactions = repository.postings(session, account.id, day_start(start), next_day)

    credited_by_due = 0
    repaid_within_grace = 0
    if previous is not None:
        # The previous statement's due date is in this cycle (rules.payment_due_date: 23 to 26
        # days after its close, the next close 28 or more), so the cycle's rows hold the
        # payments and refunds by then, and every return known at this close (a returned
        # payment paid nothing by the due date).
        window = (
            day_start(previous.period_end + timedelta(days=1)),
            day_start(previous.due_date + timedelta(days=1)),
        )
        paid = repository.net_paid(transactions, *window)
        credited_by_due = paid + repository.refunded(transactions, *window)
        if previous.grace_period_applied:
            repaid_within_grace = min(paid, max(previous.closing_balance, 0))
    grace = rules.grace_period_applies(
        previous_balance=previous.closing_balance if previous else None, credited_by_due_date=credited_by_due
    )
    balances = rules.daily_balances(
        opening=opening,
        postings=_postings(transactions),
        start=start,
        end=day,
        repaid_within_grace=repaid_within_grace,
    )
    interest = 0 if grace else rules.interest_charge(balances, account.apr_bps)
    stamp = day_end(day)
    all_transactions: list[Any] = list(transactions)
    if interest > 0:
        all_transactions.append(
            _post(
                session,
                account,
                type_="interest",
                amount=interest,
                house=ledger.House.INTEREST_INCOME,
                at=stamp,
            )
        )
    sums = _sums(all_transactions)
    # Payments Stripe took back this cycle (each re-debits the receivable) are a line of their
    # own, not negative payments: the closing balance stays the ledger's.
    returned = sums.pop(repository.RETURN_TYPE)
    closing = (
        opening
        + sums["purchase"]
        - sums["refund"]
        - sums["payment"]
        + returned
        + sums["interest"]
        + sums["fee"]
    )
    unpaid = min(past_due(), max(closing, 0))
    interest_ytd, fees_ytd = repository.interest_and_fees(
        session, account.id, day_start(date(day.year, 1, 1)), next_day
    )
    warning = rules.minimum_payment_warning(closing, account.apr_bps)
    statement = Statement(
        id=new_id("stmt"),
        account_id=account.id,
        currency=account.currency,
        period_start=start,
        period_end=day,
        due_date=rules.payment_due_date(day, account.billing_cycle_day),
        opening_balance=opening,
        purchases=sums["purchase"],
        refunds=sums["refund"],
        payments=sums["payment"],
        returned_payments=returned,
        interest=sums["interest"],
        fees=sums["fee"],
        closing_balance=closing,
        minimum_payment=rules.minimum_payment_due(
            closing, interest=sums["interest"], fees=sums["fee"], past_due=unpaid
        ),
        past_due_amount=unpaid,
        apr_bps=account.apr_bps,
        credit_limit=account.credit_limit,
        days_in_period=len(balances),
        average_daily_balance=rules.average_daily_balance(balances),
        grace_period_applied=grace,
        interest_ytd=interest_ytd,
        fees_ytd=fees_ytd,
        minimum_only_months=warning.minimum_only_months if warning else None,
        minimum_only_total=warning.minimum_only_total if warning else None,
        pay_in_36_monthly=warning.pay_in_36_monthly if warning else None,
        pay_in_36_total=warning.pay_in_36_total if warning else None,
        created_at=stamp,
    )
    session.add(statement)
    return statement


def assess_late_fees(
    session: Session, account: Account, day: date, statements: Sequence[Statement], payments: PaymentsSince
) -> int:
    """Charge a late fee for each of ``statements`` (the account's, closed by ``day``, oldest
    first) due on ``day``, or due earlier and deferred, whose minimum did not arrive; how many.
    The caller holds the account's lock, under which alone the job writes its statements.

    What had to arrive by the due date is the smaller of the minimum payment not yet paid and
    what is still owed on the statement (its balance less the payments and merchant refunds
    since): a refund that leaves less owed than the minimum lowers it, and one that leaves
    nothing owed leaves nothing late. The fee never exceeds that amount (12 CFR
    1026.52(b)(2)(i)(B)(1): "the amount of the required minimum periodic payment due
    immediately prior to assessment of the late payment fee").

    A payment counts on the day the cardholder made it (12 CFR 1026.10(a)): while one made by
    the due date is still on its way (pending at Stripe), the decision waits
    (``late_fee_deferred``) and is taken on the first day it has settled.

    One event, one penalty fee (12 CFR 1026.52(b)(2)(ii)): a minimum left unpaid because a
    payment made towards it came back, and already charged the returned-payment fee for it,
    draws no late fee as well.
    """
    charged = 0
    candidates = [
        s
        for s in statements
        if s.late_fee_transaction_id is None
        and (s.due_date == day or (s.late_fee_deferred and s.due_date < day))
    ]
    for statement in candidates:
        after_close = day_start(statement.period_end + timedelta(days=1))
        by_due = day_start(statement.due_date + timedelta(days=1))
        # A payment returned by the decision does not meet the minimum.
        paid = repository.net_paid(payments.rows, after_close, by_due)
        credited = paid + repository.refunded(payments.rows, after_close, by_due)
        required = min(
            max(statement.minimum_payment - paid, 0),
            max(statement.closing_balance - credited, 0),
        )
        statement.late_fee_deferred = False
        if required <= 0:
            continue
        on_their_way = repository.payments_on_their_way(
            session, account.id, made_before=by_due, posted_by=day_start(day + timedelta(days=1))
        )
        if on_their_way >= required:
            statement.late_fee_deferred = True
            continue
        if repository.returned_payment_fee_between(session, account.id, after_close, by_due):
            continue
        earlier = [s for s in statements if s.period_end <= statement.period_end and s.id != statement.id][
            -rules.LATE_FEE_LOOKBACK_CYCLES :
        ]
        fee = rules.late_fee(
            due_date=statement.due_date,
            minimum_due=required,
            late_in_previous_six_cycles=any(s.late_fee_amount > 0 for s in earlier),
        )
        if fee <= 0:
            continue
        transaction = _post(
            session, account, type_="fee", amount=fee, house=ledger.House.FEE_INCOME, at=day_end(day)
        )
        statement.late_fee_transaction_id = transaction.id
        statement.late_fee_amount = fee
        charged += 1
    return charged


@dataclass(frozen=True)
class Delinquency:
    days_past_due: int
    past_due_amount: int

    @property
    def bucket(self) -> str:
        return rules.delinquency_bucket(self.days_past_due)


def delinquency_on(
    session: Session,
    account: Account,
    day: date,
    *,
    balance: int,
    statements: Sequence[Statement] | None = None,
    payments: PaymentsSince | None = None,
) -> Delinquency:
    """Days past due at the end of ``day``: since the due date of the oldest unmet minimum.

    Each statement asks for its own part of the minimum (``minimum_payment`` less the
    ``past_due_amount`` it carries from earlier ones). Payments meet those parts oldest
    statement first; a payment counts only for statements closed before it was posted. What is
    past due is never more than what is still owed on the latest statement (its balance less the
    payments and merchant refunds since): a refund that leaves less owed takes the difference
    off the oldest unmet parts first. Nothing owed is never delinquent. ``statements`` and
    ``payments`` (the account's, through ``day``) are read when not given.
    """
    if balance <= 0:
        return Delinquency(0, 0)
    if statements is None:
        statements = repository.statements_of_account(session, account.id, through=day)
    if not statements:
        return Delinquency(0, 0)
    # Only payments, their returns and refunds: loading every purchase since the first statement
    # made this read grow with the account's age (a quarter of a long world's daily job).
    rows = (payments or PaymentsSince(session, account.id, statements, day)).rows
    events: list[tuple[datetime, int, Any]] = [(day_end(s.period_end), 0, s) for s in statements]
    # A payment counts net of what was returned of it by the end of ``day``.
    returned = repository.returned_of(rows)
    events += [(p.posted_at, 1, p.amount - returned.get(p.id, 0)) for p in rows if p.type == "payment"]
    owed: list[list[Any]] = []  # [statement, its own part of the minimum still unmet]
    for _, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == 0:
            owed.append([item, max(item.minimum_payment - item.past_due_amount, 0)])
            continue
        amount = item
        for entry in owed:
            take = min(amount, entry[1])
            entry[1] -= take
            amount -= take
    latest = statements[-1]
    after_close = day_start(latest.period_end + timedelta(days=1))
    end = day_start(day + timedelta(days=1))
    credited = repository.net_paid(rows, after_close, end) + repository.refunded(rows, after_close, end)
    excess = sum(unmet for _, unmet in owed) - max(latest.closing_balance - credited, 0)
    for entry in owed:
        if excess <= 0:
            break
        take = min(excess, entry[1])
        entry[1] -= take
        excess -= take
    late = [(s, unmet) for s, unmet in owed if unmet > 0 and s.due_date < day]
    if not late:
        return Delinquency(0, 0)
    return Delinquency((day - late[0][0].due_date).days, sum(unmet for _, unmet in late))


def carry_unchanged_delinquencies(session: Session, day: date) -> set[str]:
    """Step 5 at once for the delinquent accounts where nothing but time changed on ``day``.

    Delinquent as of the day before, no cycle closing and no statement due on ``day`` or
    the day before, no payment, payment return or refund posted on ``day``, still owing, and not
    reaching the charge-off: :func:`delinquency_on` would find the same oldest unmet minimum
    and the same unmet amounts, a day older. Their days past due go up by one (the bucket
    with them); every other account with work goes through :func:`process_account_day`.
    A day run again finds these accounts already ``as_of`` it, so they take the full path."""
    locked = repository.lock_unchanged_delinquencies(session, day)
    carried = repository.carry_delinquencies(
        session, locked, day, start=day_start(day), end=day_start(day + timedelta(days=1))
    )
    buckets = {a: rules.delinquency_bucket(days) for a, days, _ in carried}
    repository.set_buckets(session, {a: buckets[a] for a, _, before in carried if buckets[a] != before})
    repository.record_carried_delinquencies(session, list(buckets), day)
    return set(buckets)


def charge_off(
    session: Session, account: Account, billing: AccountBilling, day: date, *, balance: int
) -> None:
    """At 180 days past due the receivable is written off to the charge-off loss account and the
    account is closed (FFIEC Uniform Retail Credit Classification and Account Management Policy)."""
    stamp = day_end(day)
    if balance > 0:
        billing.charge_off_transfer_id = ledger.credit(
            session,
            account_id=account.id,
            amount=balance,
            kind="charge_off",
            against=ledger.House.CHARGE_OFF_LOSS,
            currency=account.currency,
            now=stamp,
            reference=account.id,
        )
    billing.charged_off_on = day
    billing.charged_off_amount = max(balance, 0)
    account.status = "closed"
    account.closed_at = stamp
    session.flush()


def process_account_day(session: Session, account_id: str, day: date) -> dict[str, int]:
    """Steps 2-6 of the daily job for one account, in the caller's transaction."""
    counts = dict.fromkeys(("statements", "interest_charges", "late_fees", "delinquent", "charged_off"), 0)
    locked = repository.lock_account(session, account_id)  # every step below runs under its lock
    if locked is None:
        return counts
    account, billing, balance = locked
    if billing is None:
        billing = AccountBilling(
            account_id=account_id, as_of=day, days_past_due=0, delinquency_bucket="current"
        )
        session.add(billing)
    if billing.charged_off_on is not None:
        return counts
    statements = list(repository.statements_of_account(session, account_id, through=day))
    payments = PaymentsSince(session, account_id, statements, day)
    statement = close_cycle(
        session,
        account,
        day,
        statements,
        past_due=lambda: (
            delinquency_on(
                session, account, day, balance=balance, statements=list(statements), payments=payments
            ).past_due_amount
        ),
    )
    if statement is not None:
        statements.append(statement)
        counts["statements"] += 1
        counts["interest_charges"] += int(statement.interest > 0)
    counts["late_fees"] += assess_late_fees(session, account, day, statements, payments)
    if day >= billing.as_of:
        if statement is not None or counts["late_fees"]:
            balance = ledger.lock_balances(session, account_id).current_balance  # what they charged
        state = delinquency_on(
            session, account, day, balance=balance, statements=statements, payments=payments
        )
        repository.record_delinquency(
            session,
            account_id,
            day,
            days_past_due=state.days_past_due,
            past_due_amount=state.past_due_amount,
            bucket=state.bucket,
            recorded_delinquent=billing.as_of == day and billing.days_past_due > 0,
        )
        billing.as_of = day
        billing.days_past_due = state.days_past_due
        billing.past_due_amount = state.past_due_amount
        billing.delinquency_bucket = state.bucket
        counts["delinquent"] += int(state.days_past_due > 0)
        if state.days_past_due >= rules.CHARGE_OFF_DAYS_PAST_DUE:
            charge_off(session, account, billing, day, balance=balance)
            counts["charged_off"] += 1
    session.flush()
    return counts


def statement_transactions(session: Session, statement: Statement) -> Sequence[Transaction]:
    """The transactions posted in the statement's period, oldest first."""
    return repository.posted_between(
        session,
        statement.account_id,
        day_start(statement.period_start),
        day_start(statement.period_end + timedelta(days=1)),
    )


@dataclass(frozen=True)
class BillingSummary:
    """What a customer needs to know about paying: the last statement and the delinquency."""

    statement_balance: int | None
    next_due_date: date | None
    minimum_payment_due: int
    past_due_amount: int
    days_past_due: int
    delinquency_bucket: str


def billing_summaries(session: Session, account_ids: Sequence[str]) -> dict[str, BillingSummary]:
    latest = repository.latest_statements(session, account_ids)
    states = repository.billing_of(session, account_ids)
    paid = repository.payments_since_close(session, list(latest.values()))
    refunds = repository.refunds_since_close(session, list(latest.values()))
    out = {}
    for account_id in account_ids:
        statement, state = latest.get(account_id), states.get(account_id)
        remaining = 0
        if statement is not None:
            # What makes the account current by the due date: the minimum shown (past-due amount
            # included) less what was paid since, never more than is still owed on the statement.
            paid_since = paid.get(account_id, 0)
            remaining = min(
                max(statement.minimum_payment - paid_since, 0),
                max(statement.closing_balance - paid_since - refunds.get(account_id, 0), 0),
            )
        out[account_id] = BillingSummary(
            statement_balance=statement.closing_balance if statement else None,
            next_due_date=statement.due_date if statement else None,
            minimum_payment_due=remaining,
            past_due_amount=state.past_due_amount if state else 0,
            days_past_due=state.days_past_due if state else 0,
            delinquency_bucket=state.delinquency_bucket if state else "current",
        )
    return out
