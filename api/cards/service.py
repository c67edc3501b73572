"""Cards: issuing, freezing, and their owner's spending controls."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.auth.security import Principal
from api.cards import repository
from api.cards.controls import SpendingControls
from api.cards.models import Card
from api.cards.numbers import CardVault, expiry_for, generate_pan, last4
from api.errors import Conflict, NotFound
from api.ids import new_id


def issue_card(session: Session, *, account: Account, vault: CardVault, now: datetime) -> Card:
    exp_month, exp_year = expiry_for(now.date())
    for _ in range(5):  # a fresh number on the (astronomically rare) clash with an existing one
        pan = generate_pan()
        card_id = new_id("card")
        card = Card(
            id=card_id,
            account_id=account.id,
            user_id=account.user_id,
            pan_ciphertext=vault.encrypt(pan, card_id),
            pan_lookup_hash=vault.lookup_hash(pan),
            last4=last4(pan),
            exp_month=exp_month,
            exp_year=exp_year,
            status="active",
            controls={},
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(card)
                session.flush()
        except IntegrityError:
            continue
        return card
    raise RuntimeError("could not draw a unique card number")


def cards_of_account(session: Session, account_id: str) -> list[Card]:
    """The account's cards, newest first (the caller has checked the account is visible)."""
    return repository.select_cards_of_account(session, account_id)


def _owned_card(session: Session, principal: Principal, card_id: str, *, lock: bool = False) -> Card:
    """The card when the caller owns it (or is an admin); else 404, never 403."""
    card = repository.lock_card(session, card_id) if lock else repository.select_card(session, card_id)
    if card is None or (card.user_id != principal.user_id and principal.role != "admin"):
        raise NotFound("No card with this id.", code="card_not_found")
    return card


def set_frozen(
    session: Session, principal: Principal, *, card_id: str, frozen: bool, origin: Origin = NO_ORIGIN
) -> Card:
    """Freeze or unfreeze; doing it twice is harmless. A closed card stays closed. Audited.

    A card frozen by staff (an admin: suspected fraud, a hold) stays frozen until staff lift
    it: its customer's unfreeze is 409 ``card_frozen_by_issuer``, and a customer's freeze on
    it changes nothing of who froze it."""
    card = _owned_card(session, principal, card_id, lock=True)
    if card.status == "closed":
        raise Conflict("This card is closed.", code="card_closed")
    by_staff = card.status == "frozen" and card.frozen_by_role not in (None, "customer")
    if by_staff and principal.role == "customer":
        if not frozen:
            raise Conflict(
                "The issuer froze this card; contact us to unfreeze it.", code="card_frozen_by_issuer"
            )
        return card
    if frozen and card.status != "frozen":
        card.frozen_by, card.frozen_by_role = principal.user_id, principal.role
    elif frozen and principal.role != "customer":  # staff take over a customer's freeze
        card.frozen_by, card.frozen_by_role = principal.user_id, principal.role
    elif not frozen:
        card.frozen_by = card.frozen_by_role = None
    previous, card.status = card.status, "frozen" if frozen else "active"
    audit.record(
        session,
        action=audit.CARD_FROZEN if frozen else audit.CARD_UNFROZEN,
        actor_id=principal.user_id,
        target=card.id,
        origin=origin,
        detail={"from": previous, "to": card.status},
    )
    session.flush()
    return card


def get_controls(session: Session, principal: Principal, *, card_id: str) -> SpendingControls:
    card = _owned_card(session, principal, card_id)
    return SpendingControls.model_validate(card.controls or {})


def set_controls(
    session: Session,
    principal: Principal,
    *,
    card_id: str,
    controls: SpendingControls,
    origin: Origin = NO_ORIGIN,
) -> SpendingControls:
    card = _owned_card(session, principal, card_id, lock=True)
    if card.status == "closed":
        raise Conflict("This card is closed.", code="card_closed")
    previous, card.controls = card.controls or {}, controls.model_dump(mode="json")
    audit.record(
        session,
        action=audit.CARD_CONTROLS_CHANGED,
        actor_id=principal.user_id,
        target=card.id,
        origin=origin,
        detail={"from": previous, "to": card.controls},
    )
    session.flush()
    return controls
