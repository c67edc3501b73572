"""A posted ledger transfer together with its line in the cardholder's history.

Every posting a cardholder sees (an interest or fee charge, a payment and its return, a
merchant refund, a recovery) is two rows written together: the transfer, through the
ledger (``ledger.charge`` or ``ledger.credit``, which lock the customer's receivable before
any house account), then the ``transactions`` row that shows it, linked to the transfer by
``posting_transfer_id``. :func:`post` is the one place that writes both. It lives beside
the ``transactions`` model rather than in ``api.ledger``, which imports no domain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from api.ids import new_id
from api.ledger import service as ledger
from api.network.models import Transaction


def post(
    session: Session,
    *,
    direction: Literal["charge", "credit"],
    account_id: str,
    type_: str,
    amount: int,
    against: ledger.House,
    currency: str,
    now: datetime,
    reference: str | None,
    kind: str | None = None,
    transaction_id: str | None = None,
    created_at: datetime | None = None,
    card_id: str | None = None,
    merchant_name: str | None = None,
    merchant_mcc: str | None = None,
    merchant_country: str | None = None,
    original_transaction_id: str | None = None,
) -> Transaction:
    """Post ``amount`` to the customer (``charge``: a debit, against the house account
    ``against``; ``credit``: a credit) and write its ``posted`` history row; the row, flushed.

    ``kind`` is the transfer's (the row's ``type_`` when not given) and ``reference`` the
    transfer's reference (the row's own id, when the caller passes ``transaction_id`` for
    both). ``created_at`` is when the row shows in the history (``now`` when not given).
    """
    move = ledger.charge if direction == "charge" else ledger.credit
    transfer_id = move(
        session,
        account_id=account_id,
        amount=amount,
        kind=kind or type_,
        against=against,
        currency=currency,
        now=now,
        reference=reference,
    )
    transaction = Transaction(
        id=transaction_id or new_id("txn"),
        account_id=account_id,
        card_id=card_id,
        type=type_,
        status="posted",
        amount=amount,
        currency=currency,
        merchant_name=merchant_name,
        merchant_mcc=merchant_mcc,
        merchant_country=merchant_country,
        original_transaction_id=original_transaction_id,
        posting_transfer_id=transfer_id,
        created_at=created_at or now,
        posted_at=now,
    )
    session.add(transaction)
    session.flush()
    return transaction
