"""The card network's four messages: authorize, clear, reverse, refund; and hold expiry.

Order of checks for an authorization (each decline is recorded and answered
200 with ``approved: false``): currency we issue in, account open, card
active and unexpired, amount within the single-authorization maximum,
spending controls, then available credit (under the account's ledger lock).

Locks: a transaction row (``FOR UPDATE``) is always taken before the
customer's ledger account, which is taken before any house account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.cards import controls as spending
from api.cards.models import Card
from api.errors import Conflict, NotFound, UnprocessableEntity
from api.ids import new_id
from api.ledger import service as ledger
from api.ledger.models import LedgerAccount
from api.money import ISSUING_CURRENCIES
from api.network.models import Transaction

# The largest single authorization we approve ($50,000): larger ones decline.
MAX_AUTHORIZATION_AMOUNT = 5_000_000
# Holds neither cleared nor reversed are released after this long.
HOLD_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class AuthorizationResult:
    transaction: Transaction
    approved: bool
    decline_code: str | None
    available_credit: int


def _card_and_account(session: Session, card_id: str) -> tuple[Card, Account]:
    row = session.execute(
        select(Card, Account).join(Account, Card.account_id == Account.id).where(Card.id == card_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No card with this id.", code="card_not_found")
    return row[0], row[1]


@dataclass(frozen=True)
class _AuthorizationContext:
    """What an authorization decides on: the card, its account and the account's locked balances."""

    card_id: str
    card_status: str
    exp_year: int
    exp_month: int
    controls: dict[str, Any] | None
    account_id: str
    account_status: str
    currency: str
    credit_limit: int
    balances: ledger.Balances


# One round trip instead of three: the card, its account, and the account's
# receivable locked (FOR UPDATE OF the receivable only), so spending-control
# sums and the credit check see every concurrent authorization on the account.
_CONTEXT = (
    select(
        Card.id,
        Card.status,
        Card.exp_year,
        Card.exp_month,
        Card.controls,
        Account.id,
        Account.status,
        Account.currency,
        Account.credit_limit,
        LedgerAccount.posted_balance,
        LedgerAccount.pending_balance,
    )
    .join(Account, Card.account_id == Account.id)
    .join(LedgerAccount, LedgerAccount.id == Account.id + ledger.RECEIVABLE_SUFFIX)
    .where(Card.id == bindparam("card_id"))
    .with_for_update(of=LedgerAccount)
)


def _lock_context(session: Session, card_id: str) -> _AuthorizationContext:
    row = session.execute(_CONTEXT, {"card_id": card_id}).one_or_none()
    if row is None:
        raise NotFound("No card with this id.", code="card_not_found")
    return _AuthorizationContext(
        card_id=row[0],
        card_status=row[1],
        exp_year=row[2],
        exp_month=row[3],
        controls=row[4],
        account_id=row[5],
        account_status=row[6],
        currency=row[7],
        credit_limit=row[8],
        balances=ledger.Balances(current_balance=row[9], pending_amount=row[10]),
    )


def _expired(exp_year: int, exp_month: int, now: datetime) -> bool:
    # A card is valid through the last day of its expiry month.
    return (now.year, now.month) > (exp_year, exp_month)


def _spent_since(session: Session, card_id: str, since: datetime) -> int:
    total = session.execute(
        select(func.coalesce(func.sum(Transaction.amount), 0)).where(
            Transaction.card_id == card_id,
            Transaction.type == "purchase",
            Transaction.status.in_(("pending", "posted")),
            Transaction.created_at >= since,
        )
    ).scalar_one()
    return int(total)


def _control_decline(
    session: Session, context: _AuthorizationContext, *, amount: int, mcc: str, country: str, now: datetime
) -> str | None:
    if not context.controls:
        return None
    controls = spending.SpendingControls.model_validate(context.controls)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    card_id = context.card_id
    spent_today = _spent_since(session, card_id, day_start) if controls.daily_limit is not None else 0
    spent_month = _spent_since(session, card_id, month_start) if controls.monthly_limit is not None else 0
    verdict = spending.evaluate(
        controls,
        amount=amount,
        mcc=mcc,
        country=country,
        spent_today=spent_today,
        spent_this_month=spent_month,
    )
    return "spending_control" if verdict is not None else None


def authorize(
    session: Session,
    *,
    card_id: str,
    amount: int,
    currency: str,
    merchant_name: str,
    merchant_mcc: str,
    merchant_country: str,
    now: datetime,
) -> AuthorizationResult:
    """Approve or decline; the transaction row is written before the ledger hold.

    Round trips: the context (card, account, locked receivable), the
    spending-control sums when the card has daily or monthly limits, the
    transaction insert, and the hold. The transaction row goes first so that
    the house account the hold updates stays locked for as short as possible.
    """
    context = _lock_context(session, card_id)
    decline: str | None = None
    if currency not in ISSUING_CURRENCIES or currency != context.currency:
        decline = "currency_not_supported"
    elif context.account_status != "active":
        decline = "account_closed"
    elif context.card_status == "frozen":
        decline = "card_frozen"
    elif context.card_status != "active":
        decline = "card_closed"
    elif _expired(context.exp_year, context.exp_month, now):
        decline = "card_expired"
    elif amount > MAX_AUTHORIZATION_AMOUNT:
        decline = "amount_too_large"

    current = context.balances
    available = context.credit_limit - current.current_balance - current.pending_amount
    hold_transfer_id: str | None = None
    if decline is None:
        decline = _control_decline(
            session, context, amount=amount, mcc=merchant_mcc, country=merchant_country, now=now
        )
    if decline is None:
        if ledger.exceeds_limit(amount, available=available):
            decline = "insufficient_credit"
        else:
            hold_transfer_id = ledger.new_transfer_id()

    values: dict[str, Any] = {
        "id": new_id("auth"),
        "account_id": context.account_id,
        "card_id": context.card_id,
        "type": "purchase",
        "status": "declined" if decline else "pending",
        "amount": amount,
        "authorized_amount": amount,
        "currency": currency,
        "merchant_name": merchant_name,
        "merchant_mcc": merchant_mcc,
        "merchant_country": merchant_country,
        "decline_code": decline,
        "hold_transfer_id": hold_transfer_id,
        "refunded_amount": 0,
        "created_at": now,
    }
    # A Core insert: the ORM's unit of work costs more than the row here.
    session.execute(insert(Transaction), values)
    if hold_transfer_id is not None:
        held = ledger.hold(
            session,
            account_id=context.account_id,
            amount=amount,
            credit_limit=context.credit_limit,
            currency=currency,
            now=now,
            reference=values["id"],
            locked=current,
            transfer_id=hold_transfer_id,
        )
        available = held.available_after
    return AuthorizationResult(Transaction(**values), decline is None, decline, available)


def _lock_authorization(session: Session, authorization_id: str) -> Transaction:
    transaction = session.execute(
        select(Transaction)
        .where(Transaction.id == authorization_id, Transaction.type == "purchase")
        .with_for_update()
    ).scalar_one_or_none()
    if transaction is None:
        raise NotFound("No authorization with this id.", code="authorization_not_found")
    return transaction


def _require_pending(transaction: Transaction) -> None:
    if transaction.status == "pending":
        return
    if transaction.status == "posted":
        raise Conflict("This authorization has already been cleared.", code="authorization_already_cleared")
    if transaction.status == "declined":
        raise Conflict(
            "A declined authorization cannot be cleared or reversed.", code="authorization_declined"
        )
    if transaction.closed_reason == "expired":
        raise Conflict("This authorization's hold has expired.", code="authorization_expired")
    raise Conflict("This authorization has been reversed.", code="authorization_reversed")


def clear(session: Session, *, authorization_id: str, amount: int, now: datetime) -> Transaction:
    transaction = _lock_authorization(session, authorization_id)
    _require_pending(transaction)
    # Tipping merchants (restaurants, taxis, salons) may clear up to 20 % above the hold.
    ceiling = spending.max_clear_amount(transaction.amount, transaction.merchant_mcc or "0000")
    if amount > ceiling:
        raise UnprocessableEntity(
            f"The clearing amount exceeds what this authorization allows ({ceiling}).",
            code="clear_exceeds_authorization",
            max_amount=ceiling,
        )
    assert transaction.hold_transfer_id is not None
    transaction.posting_transfer_id = ledger.post_pending(
        session,
        pending_id=transaction.hold_transfer_id,
        amount=amount,
        kind="purchase",
        now=now,
        reference=transaction.id,
    )
    transaction.status = "posted"
    transaction.amount = amount
    transaction.posted_at = now
    session.flush()
    return transaction


def reverse(
    session: Session, *, authorization_id: str, now: datetime, reason: str = "reversed"
) -> Transaction:
    transaction = _lock_authorization(session, authorization_id)
    _require_pending(transaction)
    assert transaction.hold_transfer_id is not None
    transaction.posting_transfer_id = ledger.void_pending(
        session,
        pending_id=transaction.hold_transfer_id,
        kind="reversal" if reason == "reversed" else "expiry",
        now=now,
        reference=transaction.id,
    )
    transaction.status = "reversed"
    transaction.closed_reason = reason
    session.flush()
    return transaction


def refund(
    session: Session,
    *,
    card_id: str,
    amount: int,
    currency: str,
    merchant_name: str,
    merchant_mcc: str,
    merchant_country: str,
    authorization_id: str | None,
    now: datetime,
) -> Transaction:
    original: Transaction | None = None
    if authorization_id is not None:
        original = _lock_authorization(session, authorization_id)
        if original.card_id != card_id:
            raise NotFound("No authorization with this id on this card.", code="authorization_not_found")
        if original.status != "posted":
            raise Conflict("Only a cleared authorization can be refunded.", code="authorization_not_cleared")
        if original.refunded_amount + amount > original.amount:
            raise UnprocessableEntity(
                f"Refunds would exceed the cleared amount ({original.amount - original.refunded_amount} "
                "left to refund).",
                code="refund_exceeds_cleared",
            )
    if original is None and amount > MAX_AUTHORIZATION_AMOUNT:
        raise UnprocessableEntity(
            f"A refund without its authorization is at most {MAX_AUTHORIZATION_AMOUNT} cents.",
            code="refund_too_large",
        )
    card, account = _card_and_account(session, card_id)
    if currency != account.currency:
        raise UnprocessableEntity(
            f"This card's account is in {account.currency}.", code="currency_not_supported"
        )
    transaction = Transaction(
        id=new_id("txn"),
        account_id=account.id,
        card_id=card.id,
        type="refund",
        status="posted",
        amount=amount,
        currency=currency,
        merchant_name=merchant_name,
        merchant_mcc=merchant_mcc,
        merchant_country=merchant_country,
        original_transaction_id=original.id if original else None,
        created_at=now,
        posted_at=now,
    )
    transaction.posting_transfer_id = ledger.credit(
        session,
        account_id=account.id,
        amount=amount,
        kind="refund",
        against=ledger.House.NETWORK_SETTLEMENT,
        currency=currency,
        now=now,
        reference=transaction.id,
    )
    if original is not None:
        original.refunded_amount += amount
    session.add(transaction)
    session.flush()
    return transaction


def expire_holds(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Release holds older than ``HOLD_LIFETIME``; how many. Safe to run concurrently."""
    stale = (
        session.execute(
            select(Transaction.id)
            .where(Transaction.status == "pending", Transaction.created_at < now - HOLD_LIFETIME)
            .order_by(Transaction.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for authorization_id in stale:
        reverse(session, authorization_id=authorization_id, now=now, reason="expired")
    return len(stale)
