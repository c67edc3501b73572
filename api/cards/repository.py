"""The cards domain's queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cards.models import Card


def select_cards_of_account(session: Session, account_id: str) -> list[Card]:
    """The account's cards, newest first."""
    return list(
        session.execute(
            select(Card).where(Card.account_id == account_id).order_by(Card.created_at.desc(), Card.id.desc())
        ).scalars()
    )


def select_card(session: Session, card_id: str) -> Card | None:
    return session.execute(select(Card).where(Card.id == card_id)).scalar_one_or_none()


def lock_card(session: Session, card_id: str) -> Card | None:
    return session.execute(select(Card).where(Card.id == card_id).with_for_update()).scalar_one_or_none()
