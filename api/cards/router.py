from __future__ import annotations

from fastapi import APIRouter

from api.accounts import service as accounts_service
from api.cards import service
from api.cards.controls import SpendingControls
from api.cards.schemas import CardOut
from api.deps import CurrentPrincipal, OriginDep, SessionDep
from api.errors import problem_responses
from api.ids import PathId
from api.pagination import Page

router = APIRouter(prefix="/v1", tags=["cards"], responses=problem_responses(401, 422))

ObjectId = PathId
_NOT_FOUND = problem_responses(404, 409, s404="card_not_found", s409="card_closed, card_frozen_by_issuer")


@router.get("/accounts/{id}/cards", responses=problem_responses(404, s404="account_not_found"))
def list_cards(id: ObjectId, principal: CurrentPrincipal, session: SessionDep) -> Page[CardOut]:
    account = accounts_service.visible_account(session, principal, id)
    cards = service.cards_of_account(session, account.id)
    return Page[CardOut](data=[CardOut.model_validate(c) for c in cards], next_cursor=None)


@router.post("/cards/{id}/freeze", responses=_NOT_FOUND)
def freeze(id: ObjectId, principal: CurrentPrincipal, session: SessionDep, origin: OriginDep) -> CardOut:
    card = service.set_frozen(session, principal, card_id=id, frozen=True, origin=origin)
    return CardOut.model_validate(card)


@router.post("/cards/{id}/unfreeze", responses=_NOT_FOUND)
def unfreeze(id: ObjectId, principal: CurrentPrincipal, session: SessionDep, origin: OriginDep) -> CardOut:
    card = service.set_frozen(session, principal, card_id=id, frozen=False, origin=origin)
    return CardOut.model_validate(card)


@router.get("/cards/{id}/controls", responses=_NOT_FOUND)
def get_controls(id: ObjectId, principal: CurrentPrincipal, session: SessionDep) -> SpendingControls:
    return service.get_controls(session, principal, card_id=id)


@router.put("/cards/{id}/controls", responses=_NOT_FOUND)
def put_controls(
    id: ObjectId,
    body: SpendingControls,
    principal: CurrentPrincipal,
    session: SessionDep,
    origin: OriginDep,
) -> SpendingControls:
    """Replace the card's controls (blocked MCC groups and countries, per-authorization,
    daily and monthly limits); a violated control declines with `spending_control`."""
    return service.set_controls(session, principal, card_id=id, controls=body, origin=origin)
