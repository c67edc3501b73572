"""The network domain's queries: a card with its account, the authorization rows, and the two
database functions an authorization's life runs in (``network_authorize``, ``network_resolve``,
``api/network/sql/``), called with the arguments ``api.network.service`` prepares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, RowMapping, select, text
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.cards.models import Card
from api.network.models import Transaction


def select_card_and_account(session: Session, card_id: str) -> tuple[Card, Account] | None:
    row = session.execute(
        select(Card, Account).join(Account, Card.account_id == Account.id).where(Card.id == card_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def lock_authorization(session: Session, authorization_id: str) -> Transaction | None:
    return session.execute(
        select(Transaction)
        .where(Transaction.id == authorization_id, Transaction.type == "purchase")
        .with_for_update()
    ).scalar_one_or_none()


def lock_stale_holds(session: Session, *, created_before: datetime, limit: int) -> list[str]:
    """The pending authorizations created before ``created_before``, oldest first, skipping those
    another transaction holds (so that concurrent expiries share the work)."""
    return list(
        session.execute(
            select(Transaction.id)
            .where(Transaction.status == "pending", Transaction.created_at < created_before)
            .order_by(Transaction.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )


# The whole authorization is one statement: ``network_authorize`` (``api/network/sql/``)
# locks the card's account receivable, runs the checks in their order
# (spending controls included), writes the transaction row and then the hold.
_AUTHORIZE = text(
    "select account_id, decline_code, available_credit from network_authorize("
    ":id, :transfer_id, :card_id, :amount, :currency, :merchant_name, :merchant_mcc,"
    " :mcc_group, :merchant_country, :now, cast(:currencies as text[]), :max_amount)"
)


def network_authorize(session: Session, arguments: Mapping[str, Any]) -> Row[Any] | None:
    """``(account_id, decline_code, available_credit)``, or None for an unknown card."""
    return session.execute(_AUTHORIZE, arguments).one_or_none()


# A clear, a reversal or an expiry is one statement too: ``network_resolve``
# (``api/network/sql/``) locks the authorization's row (before the receivable, as
# everywhere), checks it is pending and within its tip ceiling, resolves the
# hold and updates the row; it answers an outcome code and the row as it is.
_RESOLVE = text(
    "select * from network_resolve(:id, :action, :amount, :now, :transfer_id,"
    " cast(:tipping as text[]), :tip_bps)"
)


def network_resolve(session: Session, arguments: Mapping[str, Any]) -> RowMapping:
    """The outcome code, the ceiling a clear may reach (``max_amount``) and the row's columns."""
    return session.execute(_RESOLVE, arguments).mappings().one()
