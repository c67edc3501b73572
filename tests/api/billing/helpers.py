"""Test helpers for billing: card activity through the real services, payments as issue 6 posts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.ids import new_id
from api.ledger import service as ledger
from api.network import service as network
from api.network.models import Transaction
from api.payments.models import Payment

MERCHANT = {"merchant_name": "Hardware Store", "merchant_mcc": "5251", "merchant_country": "US"}


def move_clock_to(app: FastAPI, when: datetime) -> None:
    """Set the shared sandbox clock (no job run): for jumps past the API's 400-day limit."""
    clock = app.state.clock
    clock.forget()
    clock.set_offset(clock.offset() + (when - clock.now()))


def purchase(session: Session, card_id: str, amount: int, now: datetime) -> str:
    result = network.authorize(session, card_id=card_id, amount=amount, currency="USD", now=now, **MERCHANT)
    assert result.approved, result.decline_code
    network.clear(session, authorization_id=result.transaction.id, amount=amount, now=now)
    session.commit()
    return result.transaction.id


def refund(session: Session, card_id: str, authorization_id: str, amount: int, now: datetime) -> None:
    network.refund(
        session,
        card_id=card_id,
        amount=amount,
        currency="USD",
        authorization_id=authorization_id,
        now=now,
        **MERCHANT,
    )
    session.commit()


def payment(session: Session, account_id: str, amount: int, now: datetime) -> str:
    """A succeeded payment as the payments branch posts it: ledger credit against Stripe clearing."""
    transaction = Transaction(
        id=new_id("pay"),
        account_id=account_id,
        type="payment",
        status="posted",
        amount=amount,
        currency="USD",
        created_at=now,
        posted_at=now,
    )
    transaction.posting_transfer_id = ledger.credit(
        session,
        account_id=account_id,
        amount=amount,
        kind="payment",
        against=ledger.House.STRIPE_CLEARING,
        currency="USD",
        now=now,
        reference=transaction.id,
    )
    session.add(transaction)
    session.commit()
    return transaction.id


def succeeded_payment(session: Session, user_id: str, account_id: str, amount: int, now: datetime) -> str:
    """A payment as Stripe's success posts it: the ledger credit, the history line, the payment row."""
    transaction_id = payment(session, account_id, amount, now)
    row = Payment(
        id=new_id("pay"),
        account_id=account_id,
        user_id=user_id,
        initiated_by="customer",
        amount=amount,
        currency="USD",
        status="succeeded",
        transaction_id=transaction_id,
        created_at=now,
        updated_at=now,
        succeeded_at=now,
    )
    session.add(row)
    session.commit()
    return row.id


def at(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def receivable_as_of(session: Session, account_id: str, moment: datetime) -> int:
    """The receivable's posted balance from its entries up to ``moment`` (the ledger's own record)."""
    from sqlalchemy import func, select

    from api.ledger.models import LedgerEntry

    total = session.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.ledger_account_id == ledger.receivable(account_id),
            LedgerEntry.layer == "posted",
            LedgerEntry.created_at <= moment,
        )
    ).scalar_one()
    return int(total)


ONE_DAY = timedelta(days=1)
