"""Billing's queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import DateTime, Row, Select, and_, bindparam, cast, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.orm import Session, aliased

from api.accounts.models import Account
from api.billing.models import AccountBilling, BillingFailure, BillingRun, DelinquencyDay, Statement
from api.billing.rules import CHARGE_OFF_DAYS_PAST_DUE
from api.ledger.models import LedgerAccount
from api.ledger.service import RECEIVABLE_SUFFIX, LedgerError
from api.network.models import Transaction
from api.payments.models import Payment, PaymentPosting

# A payment Stripe took back (a refund or a dispute of it) re-debits the account as a posted
# ``reversal`` pointing at the payment (``original_transaction_id``): see api.payments.service.
RETURN_TYPE = "reversal"
BILLED_TYPES = ("purchase", "refund", "payment", "interest", "fee", RETURN_TYPE)


# The daily job runs these for every account with work: each statement is built once, here,
# and executed with the account's values (building it per call was a quarter of the job's
# Python). The account's posted rows are found through ix_transactions_account_posted.
def _posted(*, types: bool = True) -> tuple[Any, ...]:
    """The account's posted rows with ``start <= posted_at < end`` (of ``types``)."""
    return (
        Transaction.account_id == bindparam("account_id"),
        Transaction.status == "posted",
        *((Transaction.type.in_(bindparam("types", expanding=True)),) if types else ()),
        Transaction.posted_at >= bindparam("start"),
        Transaction.posted_at < bindparam("end"),
    )


# A row of :func:`postings`: id, type, amount, posted_at (never None: the window bounds it),
# original_transaction_id, created_at (for a payment: when the cardholder made it).
PostingRow = Row[str, str, int, datetime | None, str | None, datetime]

_POSTED_BETWEEN = select(Transaction).where(*_posted()).order_by(Transaction.posted_at, Transaction.id)
_POSTINGS = (
    select(
        Transaction.id,
        Transaction.type,
        Transaction.amount,
        Transaction.posted_at,
        Transaction.original_transaction_id,
        Transaction.created_at,
    )
    .where(*_posted())
    .order_by(Transaction.posted_at, Transaction.id)
)


def posted_between(
    session: Session,
    account_id: str,
    start: datetime,
    end: datetime,
    *,
    types: Sequence[str] = BILLED_TYPES,
) -> Sequence[Transaction]:
    """The account's posted transactions of ``types`` with ``start <= posted_at < end``, oldest
    first."""
    params = {"account_id": account_id, "start": start, "end": end, "types": list(types)}
    return session.execute(_POSTED_BETWEEN, params).scalars().all()


def postings(
    session: Session,
    account_id: str,
    start: datetime,
    end: datetime,
    *,
    types: Sequence[str] = BILLED_TYPES,
) -> Sequence[PostingRow]:
    """What the daily job reads of :func:`posted_between`'s rows, without the ORM: ``id``,
    ``type``, ``amount``, ``posted_at`` and ``original_transaction_id``, oldest first."""
    params = {"account_id": account_id, "start": start, "end": end, "types": list(types)}
    return session.execute(_POSTINGS, params).all()


def returned_of(rows: Sequence[PostingRow]) -> dict[str, int]:
    """What the returns among ``rows`` (from :func:`postings`) took back, by payment id."""
    returned: dict[str, int] = {}
    for row in rows:
        if row.type == RETURN_TYPE and row.original_transaction_id is not None:
            returned[row.original_transaction_id] = returned.get(row.original_transaction_id, 0) + row.amount
    return returned


def net_paid(rows: Sequence[PostingRow], start: datetime, end: datetime) -> int:
    """The payments among ``rows`` (from :func:`postings`) posted from ``start`` on and made
    (``created_at``: the day the cardholder paid, 12 CFR 1026.10(a)) before ``end``, each less
    what ``rows`` return of it (a returned payment pays nothing). A payment made before ``end``
    but confirmed by Stripe after it counts once it is posted. The caller's rows must hold
    every return that counts: a return posts after its payment, so rows read up to the cut-off
    for returns, from no later than ``start``, do."""
    returned = returned_of(rows)
    return sum(
        row.amount - returned.get(row.id, 0)
        for row in rows
        if row.type == "payment" and row.posted_at >= start and row.created_at < end
    )


def refunded(rows: Sequence[PostingRow], start: datetime, end: datetime) -> int:
    """The merchant refunds among ``rows`` posted in ``[start, end)``."""
    return sum(row.amount for row in rows if row.type == "refund" and start <= row.posted_at < end)


def payments_on_their_way(
    session: Session, account_id: str, *, made_before: datetime, posted_by: datetime
) -> int:
    """The payments the cardholder made before ``made_before`` that have not failed and were not
    posted before ``posted_by``: pending at Stripe, or confirmed only after. A late fee waits for
    them (12 CFR 1026.10(a): a payment is credited as of the day it was received)."""
    posted_late = (
        select(Transaction.id)
        .where(Transaction.id == Payment.transaction_id, Transaction.posted_at < posted_by)
        .exists()
    )
    return int(
        session.execute(
            select(func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.account_id == account_id,
                Payment.created_at < made_before,
                Payment.status.in_(("pending", "succeeded")),
                ~posted_late,
            )
        ).scalar_one()
    )


def returned_payment_fee_between(session: Session, account_id: str, start: datetime, end: datetime) -> bool:
    """Whether a returned-payment fee was charged for a payment the cardholder made in
    ``[start, end)`` (``api.payments.service``: a ``return_fee`` posting per payment)."""
    return bool(
        session.execute(
            select(
                select(PaymentPosting.id)
                .join(Payment, Payment.id == PaymentPosting.payment_id)
                .where(
                    Payment.account_id == account_id,
                    Payment.created_at >= start,
                    Payment.created_at < end,
                    PaymentPosting.kind == "return_fee",
                )
                .exists()
            )
        ).scalar_one()
    )


_YEAR_TO_DATE = select(
    func.coalesce(func.sum(Transaction.amount).filter(Transaction.type == "interest"), 0),
    func.coalesce(func.sum(Transaction.amount).filter(Transaction.type == "fee"), 0),
).where(*_posted(types=False), Transaction.type.in_(("interest", "fee")))


def interest_and_fees(session: Session, account_id: str, start: datetime, end: datetime) -> tuple[int, int]:
    """The interest and the fees posted to the account in ``[start, end)``."""
    row = session.execute(_YEAR_TO_DATE, {"account_id": account_id, "start": start, "end": end}).one()
    return int(row[0]), int(row[1])


# A cut-off after every return: "what was ever returned of it".
_NEVER = datetime.max.replace(tzinfo=UTC)
_RETURN = aliased(Transaction, name="returned")
# What was returned of the payment ``Transaction`` (posted before :returned_before).
_RETURNED = (
    select(func.coalesce(func.sum(_RETURN.amount), 0))
    .where(
        _RETURN.original_transaction_id == Transaction.id,
        _RETURN.type == RETURN_TYPE,
        _RETURN.status == "posted",
        _RETURN.posted_at < bindparam("returned_before"),
    )
    .correlate(Transaction)
    .scalar_subquery()
)

_LATEST_STATEMENT = (
    select(Statement)
    .where(Statement.account_id == bindparam("account_id"))
    .order_by(Statement.period_end.desc())
    .limit(1)
)
_STATEMENTS_THROUGH = (
    select(Statement)
    .where(Statement.account_id == bindparam("account_id"), Statement.period_end <= bindparam("through"))
    .order_by(Statement.period_end)
)


def latest_statement(session: Session, account_id: str) -> Statement | None:
    return session.execute(_LATEST_STATEMENT, {"account_id": account_id}).scalar_one_or_none()


def statements_of_account(session: Session, account_id: str, *, through: date) -> Sequence[Statement]:
    """The account's statements closed by ``through``, oldest first."""
    return (
        session.execute(_STATEMENTS_THROUGH, {"account_id": account_id, "through": through}).scalars().all()
    )


# The job's lock on an account (its receivable, as everywhere) and what it reads with it:
# one round trip. The account's row is the one of the statement's snapshot, as in
# network_authorize; only the job writes the billing row, one run at a time.
_LOCK_ACCOUNT = (
    select(Account, AccountBilling, LedgerAccount.posted_balance)
    .join(LedgerAccount, LedgerAccount.id == Account.id.concat(RECEIVABLE_SUFFIX))
    .outerjoin(AccountBilling, AccountBilling.account_id == Account.id)
    .where(Account.id == bindparam("account_id"))
    .with_for_update(of=LedgerAccount)
)


def lock_account(session: Session, account_id: str) -> tuple[Account, AccountBilling | None, int] | None:
    """Lock the account's receivable for this transaction: the account, its billing row (None
    before its first run) and its posted balance; None when there is no such account."""
    row = session.execute(
        _LOCK_ACCOUNT, {"account_id": account_id}, execution_options={"populate_existing": True}
    ).one_or_none()
    if row is None:
        if session.get(Account, account_id) is not None:
            raise LedgerError(f"no ledger for account {account_id}")
        return None
    return row[0], row[1], int(row[2])


def _due_on_or_the_day_before(day: date) -> Select[Any]:
    """The accounts with a statement due on ``day`` or the day before (a late fee to assess, or
    a minimum that went unmet yesterday)."""
    return select(Statement.account_id).where(Statement.due_date.in_([day, day - timedelta(days=1)]))


def _paid_by() -> Any:
    """What :func:`net_paid` finds paid towards the ``Statement`` of the enclosing query from
    the day after its close up to ``:returned_before``: the payments posted in that window,
    each less what was returned of it before then (``_RETURNED``)."""
    after_close = func.timezone("UTC", cast(Statement.period_end + 1, DateTime))
    return (
        select(func.coalesce(func.sum(Transaction.amount - _RETURNED), 0))
        .where(
            Transaction.account_id == Statement.account_id,
            Transaction.status == "posted",
            Transaction.type == "payment",
            Transaction.posted_at >= after_close,
            Transaction.posted_at < bindparam("returned_before"),
        )
        .correlate(Statement)
        .scalar_subquery()
    )


def _due_today_and_unpaid(day: date) -> Select[Any]:
    """The accounts with a statement due on ``day`` for which :func:`assess_late_fees
    <api.billing.service.assess_late_fees>` may charge a fee (no fee yet, a minimum above zero
    not met by ``day``'s end, bound as ``:returned_before``), or that are not known to be
    current.

    On its due date a current account's other step cannot change: its delinquency starts the
    day after (when the account is looked at again) and its older minimums were met. So a
    current account whose minimum due today is paid has nothing to do today."""
    current = select(AccountBilling.account_id).where(AccountBilling.days_past_due == 0)
    return select(Statement.account_id).where(
        Statement.due_date == day,
        or_(
            Statement.account_id.not_in(current),
            and_(
                Statement.late_fee_transaction_id.is_(None),
                Statement.minimum_payment > 0,
                _paid_by() < Statement.minimum_payment,
            ),
        ),
    )


# The accounts with a late fee waiting for a payment made by its due date (``late_fee_deferred``).
_DEFERRED = select(Statement.account_id).where(Statement.late_fee_deferred)


def accounts_with_work(session: Session, day: date, *, day_start: datetime) -> list[str]:
    """Accounts the daily job must look at on ``day``: a cycle closing, a due date today
    with a late fee to assess (:func:`_due_today_and_unpaid`), a due date yesterday (the day
    an unmet minimum becomes past due), a delinquency to carry on, a payment returned that
    day (it can make a current account past due again), or a late fee deferred until a payment
    settles. Charged-off accounts are done."""
    # An account opened on its cycle day closes its first cycle a month later.
    closing = select(Account.id).where(Account.billing_cycle_day == day.day, Account.opened_at < day_start)
    due = (
        select(Statement.account_id)
        .where(Statement.due_date == day - timedelta(days=1))
        .union(_due_today_and_unpaid(day))
    )
    delinquent = select(AccountBilling.account_id).where(AccountBilling.days_past_due > 0)
    returned = select(Payment.account_id).where(
        Payment.returned_amount > 0,
        Payment.updated_at >= day_start,
        Payment.updated_at < day_start + timedelta(days=1),
    )
    charged_off = select(AccountBilling.account_id).where(AccountBilling.charged_off_on.is_not(None))
    rows = session.execute(
        select(Account.id)
        .where(
            or_(
                Account.id.in_(closing),
                Account.id.in_(due),
                Account.id.in_(delinquent),
                Account.id.in_(returned),
                Account.id.in_(_DEFERRED),
            ),
            Account.id.not_in(charged_off),
        )
        .order_by(Account.id),
        {"returned_before": day_start + timedelta(days=1)},  # the day's end, for the minimums paid
    ).scalars()
    return list(rows)


def lock_unchanged_delinquencies(session: Session, day: date) -> list[str]:
    """The delinquent accounts whose delinquency on ``day`` can only have aged by a day, their
    receivables locked (in id order): delinquent as of the day before, not closing a cycle on
    ``day``, no statement due on ``day`` or the day before, not about to be charged off.
    :func:`carry_delinquencies` then checks that no payment, payment return or refund posted on ``day``."""
    yesterday = day - timedelta(days=1)
    due = _due_on_or_the_day_before(day)
    rows = session.execute(
        select(AccountBilling.account_id)
        .join(Account, Account.id == AccountBilling.account_id)
        .join(LedgerAccount, LedgerAccount.id == AccountBilling.account_id.concat(RECEIVABLE_SUFFIX))
        .where(
            AccountBilling.days_past_due > 0,
            AccountBilling.days_past_due + 1 < CHARGE_OFF_DAYS_PAST_DUE,
            AccountBilling.charged_off_on.is_(None),
            AccountBilling.as_of == yesterday,
            Account.billing_cycle_day != day.day,
            AccountBilling.account_id.not_in(due),
            AccountBilling.account_id.not_in(_DEFERRED),
        )
        .order_by(AccountBilling.account_id)
        .with_for_update(of=LedgerAccount)
    ).scalars()
    return list(rows)


def carry_delinquencies(
    session: Session, account_ids: Sequence[str], day: date, *, start: datetime, end: datetime
) -> list[tuple[str, int, str]]:
    """Age by one day the delinquency of those of ``account_ids`` (locked by
    :func:`lock_unchanged_delinquencies`) that still owe and had no payment, payment return or
    merchant refund posted in ``[start, end)``: ``(account_id, days_past_due, bucket before)`` of each."""
    if not account_ids:
        return []
    moved = (
        select(Transaction.id)
        .where(
            Transaction.account_id == AccountBilling.account_id,
            # Payments and their returns are written posted; the status lets this probe use
            # ix_transactions_account_posted instead of reading every row of the account.
            Transaction.status == "posted",
            # A merchant refund can lower what is past due (never more than what is owed).
            Transaction.type.in_(("payment", "refund", RETURN_TYPE)),
            Transaction.posted_at >= start,
            Transaction.posted_at < end,
        )
        .exists()
    )
    rows = session.execute(
        update(AccountBilling)
        .where(
            AccountBilling.account_id.in_(account_ids),
            AccountBilling.as_of == day - timedelta(days=1),
            LedgerAccount.id == AccountBilling.account_id.concat(RECEIVABLE_SUFFIX),
            LedgerAccount.posted_balance > 0,
            ~moved,
        )
        .values(as_of=day, days_past_due=AccountBilling.days_past_due + 1)
        .returning(AccountBilling.account_id, AccountBilling.days_past_due, AccountBilling.delinquency_bucket)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def set_buckets(session: Session, buckets: dict[str, str]) -> None:
    for bucket in set(buckets.values()):
        session.execute(
            update(AccountBilling)
            .where(AccountBilling.account_id.in_([a for a, b in buckets.items() if b == bucket]))
            .values(delinquency_bucket=bucket)
        )


def _replacing(statement: Insert) -> Insert:
    """``statement`` (an ``insert`` into ``delinquency_days``) replacing a day already recorded."""
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[DelinquencyDay.account_id, DelinquencyDay.day],
        set_={
            "days_past_due": excluded.days_past_due,
            "past_due_amount": excluded.past_due_amount,
            "bucket": excluded.bucket,
        },
    )


def record_delinquency(
    session: Session,
    account_id: str,
    day: date,
    *,
    days_past_due: int,
    past_due_amount: int,
    bucket: str,
    recorded_delinquent: bool,
) -> None:
    """Record the account's delinquency at the end of ``day`` in ``delinquency_days``: a row when
    it is delinquent (replacing one a run of the same day wrote), none when it is current.
    ``recorded_delinquent``: a run of ``day`` already recorded the account delinquent (its
    ``account_billing`` row was as of ``day`` and past due), so a current answer deletes that row;
    otherwise there is none to delete, and no statement is sent."""
    if days_past_due > 0:
        session.execute(
            _replacing(
                insert(DelinquencyDay).values(
                    account_id=account_id,
                    day=day,
                    days_past_due=days_past_due,
                    past_due_amount=past_due_amount,
                    bucket=bucket,
                )
            )
        )
    elif recorded_delinquent:
        session.execute(
            delete(DelinquencyDay).where(DelinquencyDay.account_id == account_id, DelinquencyDay.day == day)
        )


def record_carried_delinquencies(session: Session, account_ids: Sequence[str], day: date) -> None:
    """Record in ``delinquency_days`` the delinquency of ``account_ids`` as their ``account_billing``
    rows hold it as of ``day`` (after :func:`carry_delinquencies` and :func:`set_buckets`): one
    statement for them all."""
    if not account_ids:
        return
    session.execute(
        _replacing(
            insert(DelinquencyDay).from_select(
                ["account_id", "day", "days_past_due", "past_due_amount", "bucket"],
                select(
                    AccountBilling.account_id,
                    AccountBilling.as_of,
                    AccountBilling.days_past_due,
                    AccountBilling.past_due_amount,
                    AccountBilling.delinquency_bucket,
                ).where(
                    AccountBilling.account_id.in_(list(account_ids)),
                    AccountBilling.as_of == day,
                    AccountBilling.days_past_due > 0,
                ),
            )
        )
    )


def first_opened_day(session: Session) -> datetime | None:
    return session.execute(select(func.min(Account.opened_at))).scalar_one()


def last_finished_run(session: Session) -> BillingRun | None:
    return session.execute(
        select(BillingRun).where(BillingRun.finished_at.is_not(None)).order_by(BillingRun.day.desc()).limit(1)
    ).scalar_one_or_none()


def run_of_day(session: Session, day: date) -> BillingRun | None:
    return session.execute(select(BillingRun).where(BillingRun.day == day)).scalar_one_or_none()


def statements_for_accounts(account_id: str) -> Select[Any]:
    return select(Statement).where(Statement.account_id == account_id)


def latest_statements(session: Session, account_ids: Sequence[str]) -> dict[str, Statement]:
    if not account_ids:
        return {}
    newest = (
        select(Statement.account_id, func.max(Statement.period_end).label("period_end"))
        .where(Statement.account_id.in_(account_ids))
        .group_by(Statement.account_id)
        .subquery()
    )
    rows = (
        session.execute(
            select(Statement).join(
                newest,
                and_(
                    Statement.account_id == newest.c.account_id, Statement.period_end == newest.c.period_end
                ),
            )
        )
        .scalars()
        .all()
    )
    return {s.account_id: s for s in rows}


def billing_of(session: Session, account_ids: Sequence[str]) -> dict[str, AccountBilling]:
    if not account_ids:
        return {}
    rows = session.execute(select(AccountBilling).where(AccountBilling.account_id.in_(account_ids))).scalars()
    return {b.account_id: b for b in rows}


def payments_since_close(session: Session, statements: Sequence[Statement]) -> dict[str, int]:
    """Per account, the payments posted after its given statement closed, each less what was
    returned of it so far (a returned payment pays nothing)."""
    if not statements:
        return {}
    closes = {s.account_id: s.period_end for s in statements}
    earliest = datetime.combine(min(closes.values()) + timedelta(days=1), time.min, tzinfo=UTC)
    rows = session.execute(
        select(Transaction.account_id, Transaction.posted_at, Transaction.amount - _RETURNED).where(
            Transaction.account_id.in_(list(closes)),
            Transaction.type == "payment",
            Transaction.status == "posted",
            Transaction.posted_at >= earliest,
        ),
        {"returned_before": _NEVER},
    ).all()
    paid: dict[str, int] = {}
    for account_id, posted_at, amount in rows:
        if posted_at is not None and posted_at.astimezone(UTC).date() > closes[account_id]:
            paid[account_id] = paid.get(account_id, 0) + int(amount)
    return paid


def refunds_since_close(session: Session, statements: Sequence[Statement]) -> dict[str, int]:
    """Per account, the merchant refunds posted after its given statement closed."""
    if not statements:
        return {}
    closes = {s.account_id: s.period_end for s in statements}
    earliest = datetime.combine(min(closes.values()) + timedelta(days=1), time.min, tzinfo=UTC)
    rows = session.execute(
        select(Transaction.account_id, Transaction.posted_at, Transaction.amount).where(
            Transaction.account_id.in_(list(closes)),
            Transaction.type == "refund",
            Transaction.status == "posted",
            Transaction.posted_at >= earliest,
        )
    ).all()
    refunds: dict[str, int] = {}
    for account_id, posted_at, amount in rows:
        if posted_at is not None and posted_at.astimezone(UTC).date() > closes[account_id]:
            refunds[account_id] = refunds.get(account_id, 0) + int(amount)
    return refunds


def unresolved_failures(session: Session, *, before: date) -> list[tuple[str, date]]:
    """The (account, day) pairs of the daily job that failed before ``before`` and were not
    resolved since, oldest day first."""
    rows = session.execute(
        select(BillingFailure.account_id, BillingFailure.day)
        .where(BillingFailure.resolved_at.is_(None), BillingFailure.day < before)
        .order_by(BillingFailure.day, BillingFailure.account_id)
    ).all()
    return [(r[0], r[1]) for r in rows]


def resolve_failure(session: Session, account_id: str, day: date) -> None:
    session.execute(
        update(BillingFailure)
        .where(BillingFailure.account_id == account_id, BillingFailure.day == day)
        .values(resolved_at=func.now())
    )
