"""The ledger's rules. Named invariants, checked by the tests on every step:

1. Every transfer's entries sum to zero in each layer (pending, posted).
2. The whole ledger sums to zero in each layer, at every instant.
3. Each account's balances equal the sums of its entries.
4. A pending transfer is resolved (posted or voided) at most once.
5. A hold never takes a customer account past its limit.

Shapes. Each transfer moves an amount from a debit account to a credit
account. A *pending* transfer (a hold) writes pending entries; posting it
writes reversing pending entries plus posted entries for the final amount
(which may differ); voiding it writes only the reversing pending entries.
Corrections are new transfers, never updates of old entries.

Accounts. A customer's card account has one ledger account,
``<account_id>:receivable`` (debit-positive: what the customer owes). The
house accounts (network settlement, interest and fee income, Stripe cash
clearing, charge-off losses and recoveries) are split into ``HOUSE_SHARDS`` shards chosen
by the customer account, so no single house row is a hot spot for every
authorization. House accounts are created on first use.

Locking. A customer's receivable is locked (``FOR UPDATE``) before any
house account, and a transfer touches one customer account at most, so
transactions never wait on each other in a cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import psycopg
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from api.db import driver_error
from api.ids import new_id
from api.ledger.models import LedgerAccount, LedgerEntry
from api.money import MAX_AMOUNT  # the ceiling on any amount; a larger one is a bug upstream

HOUSE_SHARDS = 16


class House(StrEnum):
    NETWORK_SETTLEMENT = "network_settlement"
    INTEREST_INCOME = "interest_income"
    FEE_INCOME = "fee_income"
    STRIPE_CLEARING = "stripe_clearing"
    CHARGE_OFF_LOSS = "charge_off_loss"
    # Recoveries of charged-off balances, apart from the loss (api.billing.recoveries).
    CHARGE_OFF_RECOVERY = "charge_off_recovery"


class LedgerError(Exception):
    """Base of the ledger's own errors (domains map them to API errors)."""


class LimitExceeded(LedgerError):
    def __init__(self, available: int) -> None:
        super().__init__(f"limit exceeded; available {available}")
        self.available = available


class PendingNotFound(LedgerError):
    pass


class PendingAlreadyResolved(LedgerError):
    def __init__(self, state: str) -> None:
        super().__init__(f"pending transfer already {state}")
        self.state = state


class InvalidAmount(LedgerError):
    pass


RECEIVABLE_SUFFIX = ":receivable"


def receivable(account_id: str) -> str:
    return f"{account_id}{RECEIVABLE_SUFFIX}"


def new_transfer_id() -> str:
    """A transfer's id, known before it is written (callers may record it first)."""
    return new_id("tr")


def house_shard(account_id: str) -> int:
    """The house-account shard a customer account uses, for every kind of house account
    (SQL: ``ledger_house``, ``api/ledger/sql/ledger_house.sql``; a test pins the two together).
    Accounts of different shards never share a house row."""
    return hashlib.sha256(account_id.encode()).digest()[0] % HOUSE_SHARDS


def house(kind: House, account_id: str) -> str:
    """The house account of ``kind`` a customer account uses (its shard's)."""
    return f"house:{kind.value}:{house_shard(account_id):02d}"


@dataclass(frozen=True)
class Balances:
    """A customer account's balances, in cents: posted (what is owed) and held."""

    current_balance: int
    pending_amount: int


def available_credit(credit_limit: int, balances: Balances) -> int:
    """A card account's available credit: its limit less what it owes and what is held.

    The database's definition is ``account_available_credit``
    (``api/ledger/sql/account_available_credit.sql``), which the hold (rule 5) and the
    authorization's credit check use; this copy answers for many accounts without a round
    trip, and ``tests/api/test_db_functions.py`` pins the two together.
    """
    return credit_limit - balances.current_balance - balances.pending_amount


# The ledger's writes are calls of its SQL functions (``api/ledger/sql/``), one statement
# each, on the session's own connection and in its transaction. They go to psycopg directly,
# below SQLAlchemy's statement layer: the session's execute path (compiled-statement cache,
# result wrapping) cost ~125 µs of Python per call, 40 % of a ledger_core repetition's Python
# time (bench/README.md, issue 24). What that layer gave is kept: pending ORM objects are
# flushed first (the session's autoflush), and a database error is raised as SQLAlchemy's own
# (IntegrityError, OperationalError...) with its parameters hidden, as ``make_engine`` sets.
def _call(session: Session, statement: str, params: tuple[object, ...]) -> tuple[object, ...]:
    """The one row of a ledger function's call, in the session's transaction."""
    if session.autoflush:  # False inside ``session.no_autoflush``, as for its execute
        session.flush()
    driver = session.connection().connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        row = driver.execute(statement, params).fetchone()
    except psycopg.Error as error:
        raise driver_error(statement, params, error) from error
    if row is None:
        raise LedgerError(f"no row from {statement.split('(')[0]}")
    return tuple(row)


# One statement writes a transfer: the transfer row, its entries, and the
# balances of every account it touches (created on first use), so balances
# and entries can never disagree. The function is ``ledger_write_transfer``
# (``api/ledger/sql/``); the hold, the resolution of a hold and the network's
# authorization call it too.
_WRITE_TRANSFER = (
    "select ledger_write_transfer(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " %s::text[], %s::bigint[], %s::text[])"
)


def _write(
    session: Session,
    *,
    kind: str,
    state: str,
    debit: str,
    credit: str,
    amount: int,
    currency: str,
    legs: list[tuple[str, int, str]],
    now: datetime,
    pending_id: str | None = None,
    reference: str | None = None,
    transfer_id: str | None = None,
) -> str:
    transfer_id = transfer_id or new_transfer_id()
    written = _call(
        session,
        _WRITE_TRANSFER,
        (
            transfer_id,
            kind,
            state,
            debit,
            credit,
            amount,
            currency,
            pending_id,
            reference,
            now,
            [leg[0] for leg in legs],
            [leg[1] for leg in legs],
            [leg[2] for leg in legs],
        ),
    )[0]
    if not written:
        # The function wrote nothing: an account is in another currency.
        raise LedgerError(f"currency mismatch on transfer {kind} ({currency})")
    return transfer_id


def _check_amount(amount: int, *, allow_zero: bool = False) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidAmount("amount must be an integer of minor units")
    if amount < 0 or (amount == 0 and not allow_zero) or amount > MAX_AMOUNT:
        raise InvalidAmount(f"amount out of range: {amount}")


def open_customer_account(session: Session, *, account_id: str, currency: str) -> str:
    """Create the receivable of a new card account; its ledger account id."""
    code = receivable(account_id)
    session.add(LedgerAccount(id=code, currency=currency))
    session.flush()
    return code


_LOCK_RECEIVABLE = (
    select(LedgerAccount.posted_balance, LedgerAccount.pending_balance)
    .where(LedgerAccount.id == bindparam("receivable"))
    .with_for_update()
)


def lock_balances(session: Session, account_id: str) -> Balances:
    """Lock a customer's receivable for this transaction; its balances."""
    row = session.execute(_LOCK_RECEIVABLE, {"receivable": receivable(account_id)}).one_or_none()
    if row is None:
        raise LedgerError(f"no ledger for account {account_id}")
    return Balances(current_balance=row[0], pending_amount=row[1])


def balances(session: Session, account_ids: list[str]) -> dict[str, Balances]:
    rows = session.execute(
        select(LedgerAccount.id, LedgerAccount.posted_balance, LedgerAccount.pending_balance).where(
            LedgerAccount.id.in_([receivable(a) for a in account_ids])
        )
    ).all()
    by_code = {row[0]: Balances(row[1], row[2]) for row in rows}
    return {a: by_code.get(receivable(a), Balances(0, 0)) for a in account_ids}


@dataclass(frozen=True)
class Hold:
    transfer_id: str
    available_after: int


_HOLD = "select outcome, available from ledger_hold(%s, %s, %s, %s, %s, %s, %s)"


def hold(
    session: Session,
    *,
    account_id: str,
    amount: int,
    credit_limit: int,
    currency: str,
    now: datetime,
    reference: str | None = None,
    transfer_id: str | None = None,
) -> Hold:
    """A pending purchase: debit the customer, credit network settlement, within the limit.

    One statement (``ledger_hold``, ``api/ledger/sql/``): the receivable locked, rule 5
    checked (with ``account_available_credit``), the hold written. Raises
    ``LimitExceeded`` (writing nothing) when ``current + pending + amount`` would pass
    ``credit_limit``; ``transfer_id`` is an id from ``new_transfer_id`` the caller
    recorded already.
    """
    _check_amount(amount)
    transfer_id = transfer_id or new_transfer_id()
    outcome, available = _call(
        session, _HOLD, (transfer_id, account_id, amount, credit_limit, currency, now, reference)
    )
    if outcome == "limit_exceeded":
        assert isinstance(available, int)
        raise LimitExceeded(available=available)
    if outcome == "currency_mismatch":
        raise LedgerError(f"currency mismatch on transfer hold ({currency})")
    if outcome != "ok":
        raise LedgerError(f"no ledger for account {account_id}")
    assert isinstance(available, int)
    return Hold(transfer_id=transfer_id, available_after=available)


# Resolve a pending transfer in one statement: ``ledger_resolve_pending``
# (``api/ledger/sql/``) locks the customer's receivable first, as
# everywhere, then moves the transfer from pending to its new state only if it
# still is pending (a concurrent resolver that committed first makes the
# re-checked ``state = 'pending'`` fail), and writes the resolving transfer.
_RESOLVE = "select ledger_resolve_pending(%s, %s, %s, %s, %s, %s, %s)"


def _resolve(
    session: Session,
    *,
    pending_id: str,
    post: bool,
    amount: int,
    kind: str,
    now: datetime,
    reference: str | None,
) -> str:
    """Post or void a pending transfer, once; the resolving transfer's id."""
    transfer_id = new_transfer_id()
    outcome = str(_call(session, _RESOLVE, (pending_id, post, amount, kind, now, reference, transfer_id))[0])
    if outcome == "not_found":
        raise PendingNotFound(pending_id)
    if outcome != "ok":
        raise PendingAlreadyResolved(outcome)
    return transfer_id


def post_pending(
    session: Session,
    *,
    pending_id: str,
    amount: int,
    kind: str,
    now: datetime,
    reference: str | None = None,
) -> str:
    """Post a hold for ``amount`` (may differ from the hold); releases the rest."""
    _check_amount(amount, allow_zero=True)
    return _resolve(
        session, pending_id=pending_id, post=True, amount=amount, kind=kind, now=now, reference=reference
    )


def void_pending(
    session: Session, *, pending_id: str, kind: str, now: datetime, reference: str | None = None
) -> str:
    """Release a hold entirely (a reversal, or an expiry)."""
    return _resolve(
        session, pending_id=pending_id, post=False, amount=0, kind=kind, now=now, reference=reference
    )


def _post_between(
    session: Session,
    *,
    debit: str,
    credit: str,
    account_id: str,
    amount: int,
    kind: str,
    currency: str,
    now: datetime,
    reference: str | None,
) -> str:
    """A posted two-leg transfer touching one customer, whose receivable is locked first."""
    _check_amount(amount)
    lock_balances(session, account_id)
    return _write(
        session,
        kind=kind,
        state="posted",
        debit=debit,
        credit=credit,
        amount=amount,
        currency=currency,
        legs=[(debit, amount, "posted"), (credit, -amount, "posted")],
        now=now,
        reference=reference,
    )


def charge(
    session: Session,
    *,
    account_id: str,
    amount: int,
    kind: str,
    against: House,
    currency: str,
    now: datetime,
    reference: str | None = None,
) -> str:
    """A posted debit to the customer (interest, a fee): credit a house account."""
    return _post_between(
        session,
        debit=receivable(account_id),
        credit=house(against, account_id),
        account_id=account_id,
        amount=amount,
        kind=kind,
        currency=currency,
        now=now,
        reference=reference,
    )


def credit(
    session: Session,
    *,
    account_id: str,
    amount: int,
    kind: str,
    against: House,
    currency: str,
    now: datetime,
    reference: str | None = None,
) -> str:
    """A posted credit to the customer (a refund, a payment): debit a house account."""
    return _post_between(
        session,
        debit=house(against, account_id),
        credit=receivable(account_id),
        account_id=account_id,
        amount=amount,
        kind=kind,
        currency=currency,
        now=now,
        reference=reference,
    )


@dataclass(frozen=True)
class TrialBalance:
    balanced: bool
    total_debits: int
    total_credits: int
    accounts: list[dict[str, object]]
    pending_total: int
    entries_total: int


def trial_balance(session: Session) -> TrialBalance:
    """Every account's posted totals, and whether the ledger balances.

    Balanced means: posted debits equal posted credits, the pending layer nets
    to zero, the entries sum to zero, and each account's kept balances equal
    the sums of its entries.
    """
    accounts = session.execute(select(LedgerAccount).order_by(LedgerAccount.id)).scalars().all()
    sums = {
        row[0]: (int(row[1]), int(row[2]))
        for row in session.execute(
            select(
                LedgerEntry.ledger_account_id,
                func.coalesce(func.sum(LedgerEntry.amount).filter(LedgerEntry.layer == "posted"), 0),
                func.coalesce(func.sum(LedgerEntry.amount).filter(LedgerEntry.layer == "pending"), 0),
            ).group_by(LedgerEntry.ledger_account_id)
        )
    }
    total_debits = sum(a.posted_debits for a in accounts)
    total_credits = sum(a.posted_credits for a in accounts)
    pending_total = sum(a.pending_balance for a in accounts)
    entries_total = sum(p + q for p, q in sums.values())
    consistent = all(
        sums.get(a.id, (0, 0)) == (a.posted_balance, a.pending_balance)
        and a.posted_debits - a.posted_credits == a.posted_balance
        for a in accounts
    )
    return TrialBalance(
        balanced=consistent and total_debits == total_credits and pending_total == 0 and entries_total == 0,
        total_debits=total_debits,
        total_credits=total_credits,
        accounts=[
            {
                "id": a.id,
                "currency": a.currency,
                "posted_debits": a.posted_debits,
                "posted_credits": a.posted_credits,
                "posted_balance": a.posted_balance,
                "pending_balance": a.pending_balance,
            }
            for a in accounts
        ],
        pending_total=pending_total,
        entries_total=entries_total,
    )


def unbalanced_transfers(session: Session) -> list[str]:
    """Transfers whose entries do not sum to zero in a layer (must always be empty)."""
    rows = session.execute(
        select(LedgerEntry.transfer_id)
        .group_by(LedgerEntry.transfer_id, LedgerEntry.layer)
        .having(func.sum(LedgerEntry.amount) != 0)
    ).all()
    return [row[0] for row in rows]
