"""The card network's endpoints (machine caller, ``X-Network-Key``).

An ``Idempotency-Key`` is optional here: the network sends one on every
message it may retry, and a retry with the same key replays the answer.

These are the hottest routes, so each runs its whole unit of work (the
idempotency look-up, the service call, the stored answer, the commit) in
one thread-pool call: FastAPI would otherwise hop to its thread pool for
the session, the idempotency dependency and the endpoint separately, and
on two cores those hops (threads handing the GIL to each other) cost more
than the work. The dependencies left do no I/O and run on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import ClockDep, NetworkCaller, NetworkIdempotency, unit_of_work
from api.errors import problem_responses
from api.gateway.idempotency import PendingIdempotency
from api.ids import PathId
from api.network import service
from api.network.schemas import AuthorizationIn, AuthorizationOut, ClearIn, RefundIn, TransactionOut
from api.responses import model_response

router = APIRouter(prefix="/v1/network", tags=["network"])

AuthorizationId = PathId
_ERRORS = problem_responses(
    401, 404, 422, s401="invalid_network_key", s404="card_not_found or authorization_not_found"
)
_STATE_ERRORS = _ERRORS | problem_responses(409, s409="the authorization is not pending")


async def _in_transaction(
    request: Request, pending: PendingIdempotency, work: Callable[[Session], BaseModel]
) -> Response:
    """Begin the idempotency key, run ``work``, store its answer and commit: one thread-pool call."""

    def unit() -> Response:
        with unit_of_work(request) as session:
            idem = pending.begin(session)
            return model_response(idem.save(200, work(session)))

    return await run_in_threadpool(unit)


@router.post("/authorizations", responses=_ERRORS, response_model=AuthorizationOut)
async def authorize(
    body: AuthorizationIn, _: NetworkCaller, request: Request, clock: ClockDep, idem: NetworkIdempotency
) -> Response:
    """Approve or decline; a decline is a 200 with `approved: false` and a `decline_code`."""

    def work(session: Session) -> AuthorizationOut:
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
        return AuthorizationOut(
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
        )

    return await _in_transaction(request, idem, work)


@router.post("/authorizations/{id}/clear", responses=_STATE_ERRORS, response_model=TransactionOut)
async def clear(
    id: AuthorizationId,
    body: ClearIn,
    _: NetworkCaller,
    request: Request,
    clock: ClockDep,
    idem: NetworkIdempotency,
) -> Response:
    def work(session: Session) -> TransactionOut:
        txn = service.clear(session, authorization_id=id, amount=body.amount, now=clock.now())
        return TransactionOut.of(txn)

    return await _in_transaction(request, idem, work)


@router.post("/authorizations/{id}/reverse", responses=_STATE_ERRORS, response_model=TransactionOut)
async def reverse(
    id: AuthorizationId, _: NetworkCaller, request: Request, clock: ClockDep, idem: NetworkIdempotency
) -> Response:
    def work(session: Session) -> TransactionOut:
        return TransactionOut.of(service.reverse(session, authorization_id=id, now=clock.now()))

    return await _in_transaction(request, idem, work)


@router.post("/refunds", responses=_STATE_ERRORS, response_model=TransactionOut)
async def refund(
    body: RefundIn, _: NetworkCaller, request: Request, clock: ClockDep, idem: NetworkIdempotency
) -> Response:
    def work(session: Session) -> TransactionOut:
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
        return TransactionOut.of(txn)

    return await _in_transaction(request, idem, work)
