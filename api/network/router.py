"""The card network's endpoints (machine caller, ``X-Network-Key``).

An ``Idempotency-Key`` is optional here: the network sends one on every
message it may retry, and a retry with the same key replays the answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import ClockDep, NetworkCaller, NetworkIdempotency, SessionDep
from api.errors import problem_responses
from api.ids import ID_PATTERN
from api.network import service
from api.network.schemas import AuthorizationIn, AuthorizationOut, ClearIn, RefundIn, TransactionOut
from api.responses import model_response

router = APIRouter(prefix="/v1/network", tags=["network"])

AuthorizationId = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
_ERRORS = problem_responses(
    401, 404, 422, s401="invalid_network_key", s404="card_not_found or authorization_not_found"
)
_STATE_ERRORS = _ERRORS | problem_responses(409, s409="the authorization is not pending")


@router.post("/authorizations", responses=_ERRORS, response_model=AuthorizationOut)
def authorize(
    body: AuthorizationIn, _: NetworkCaller, session: SessionDep, clock: ClockDep, idem: NetworkIdempotency
) -> Response:
    """Approve or decline; a decline is a 200 with `approved: false` and a `decline_code`."""
    result = service.authorize(
        session,
        card_id=body.card_id,
        amount=body.amount,
        currency=body.currency,
        merchant_name=body.merchant.name,
        merchant_mcc=body.merchant.mcc,
        merchant_country=body.merchant.country,
        now=clock.now(),
    )
    txn = result.transaction
    answer = idem.save(
        200,
        AuthorizationOut(
            id=txn.id,
            approved=result.approved,
            decline_code=result.decline_code,
            available_credit=result.available_credit,
            amount=txn.amount,
            currency=txn.currency,
            status="pending" if result.approved else "declined",
            card_id=txn.card_id or "",
            account_id=txn.account_id,
            created_at=txn.created_at,
        ),
    )
    return model_response(answer)


@router.post("/authorizations/{id}/clear", responses=_STATE_ERRORS, response_model=TransactionOut)
def clear(
    id: AuthorizationId,
    body: ClearIn,
    _: NetworkCaller,
    session: SessionDep,
    clock: ClockDep,
    idem: NetworkIdempotency,
) -> Response:
    txn = service.clear(session, authorization_id=id, amount=body.amount, now=clock.now())
    return model_response(idem.save(200, TransactionOut.of(txn)))


@router.post("/authorizations/{id}/reverse", responses=_STATE_ERRORS, response_model=TransactionOut)
def reverse(
    id: AuthorizationId,
    _: NetworkCaller,
    session: SessionDep,
    clock: ClockDep,
    idem: NetworkIdempotency,
) -> Response:
    txn = service.reverse(session, authorization_id=id, now=clock.now())
    return model_response(idem.save(200, TransactionOut.of(txn)))


@router.post("/refunds", responses=_STATE_ERRORS, response_model=TransactionOut)
def refund(
    body: RefundIn, _: NetworkCaller, session: SessionDep, clock: ClockDep, idem: NetworkIdempotency
) -> Response:
    txn = service.refund(
        session,
        card_id=body.card_id,
        amount=body.amount,
        currency=body.currency,
        merchant_name=body.merchant.name,
        merchant_mcc=body.merchant.mcc,
        merchant_country=body.merchant.country,
        authorization_id=body.authorization_id,
        now=clock.now(),
    )
    return model_response(idem.save(200, TransactionOut.of(txn)))
