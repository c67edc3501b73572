"""The card network's endpoints (machine caller, ``X-Network-Key``).

An ``Idempotency-Key`` is optional here: the network sends one on every
message it may retry, and a retry with the same key replays the answer.

These are the hottest routes. Authorize, clear and reverse are each ONE
autocommitted statement, awaited on the event loop through the app's async
psycopg pool (``api.db.StatementPools``): the key's lock and look-up, the work,
the answer built as JSON and stored for the key, all in the database
(``api.network.service.authorize_batched``, ``resolve_batched``); the route sends the
answer's bytes as they are (a replay's too, with ``Idempotent-Replayed: true``).
No session, no thread-pool hop, no separate commit. Messages that arrive while the
previous statements run share the next one, and its commit (``api.network.batching``).
A well-formed message is answered by the gateway, below FastAPI's routing and dependency system
(``api.network.lean``: the same checks, then the same code); anything else goes through FastAPI's
handler as before,
with the body, the network key and the key's dependency checked by FastAPI, so
the OpenAPI document and every 4xx are unchanged.

A refund (rare) runs its whole unit of work (the key, the service call, the stored
answer, the commit) in one thread-pool call.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.clock import Clock
from api.deps import ClockDep, NetworkCaller, NetworkIdempotency, unit_of_work
from api.errors import problem_responses
from api.gateway.idempotency import PendingIdempotency
from api.ids import PathId
from api.network import service
from api.network.batching import batches_of
from api.network.lean import LEAN, json_body, machine_caller, path_id
from api.network.schemas import AuthorizationIn, AuthorizationOut, ClearIn, RefundIn, TransactionOut
from api.responses import JSON, model_response

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


def _answer_response(answer: service.Answer) -> Response:
    headers = {"Idempotent-Replayed": "true"} if answer.replayed else None
    return Response(answer.body, status_code=answer.status_code, media_type=JSON, headers=headers)


async def _authorize(
    request: Request, body: AuthorizationIn, clock: Clock, idem: PendingIdempotency
) -> Response:
    message = service.AuthorizationRequest(
        card_id=body.card_id,
        amount=body.amount,
        currency=body.currency,
        merchant_name=body.merchant.name,
        merchant_mcc=body.merchant.mcc,
        merchant_country=body.merchant.country,
    )
    # The clock reads the shared sandbox offset at most once per CLOCK_CACHE_SECONDS (a short
    # blocking read on the loop then); otherwise it is arithmetic.
    now = clock.now()
    answer = await service.authorize_batched(
        batches_of(request.app.state).authorizations, idempotency=idem, request=message, now=now
    )
    return _answer_response(answer)


async def _resolve(
    request: Request, authorization_id: str, action: str, amount: int, clock: Clock, idem: PendingIdempotency
) -> Response:
    now = clock.now()
    answer = await service.resolve_batched(
        batches_of(request.app.state).resolutions,
        idempotency=idem,
        authorization_id=authorization_id,
        action=action,
        amount=amount,
        now=now,
    )
    return _answer_response(answer)


@router.post("/authorizations", responses=_ERRORS, response_model=AuthorizationOut)
async def authorize(
    body: AuthorizationIn, _: NetworkCaller, request: Request, clock: ClockDep, idem: NetworkIdempotency
) -> Response:
    """Approve or decline; a decline is a 200 with `approved: false` and a `decline_code`."""
    return await _authorize(request, body, clock, idem)


@router.post("/authorizations/{id}/clear", responses=_STATE_ERRORS, response_model=TransactionOut)
async def clear(
    id: AuthorizationId,
    body: ClearIn,
    _: NetworkCaller,
    request: Request,
    clock: ClockDep,
    idem: NetworkIdempotency,
) -> Response:
    return await _resolve(request, id, "clear", body.amount, clock, idem)


@router.post("/authorizations/{id}/reverse", responses=_STATE_ERRORS, response_model=TransactionOut)
async def reverse(
    id: AuthorizationId, _: NetworkCaller, request: Request, clock: ClockDep, idem: NetworkIdempotency
) -> Response:
    return await _resolve(request, id, "reversed", 0, clock, idem)


# The same three routes for well-formed messages, below FastAPI's dependency system
# (api.network.lean): None hands the request to FastAPI's handler, which answers every error.


async def _lean_authorize(request: Request) -> Response | None:
    idem = await machine_caller(request)
    body = await json_body(request, AuthorizationIn) if idem is not None else None
    if idem is None or body is None:
        return None
    return await _authorize(request, body, request.app.state.clock, idem)


async def _lean_clear(request: Request) -> Response | None:
    authorization_id = path_id(request)
    idem = await machine_caller(request) if authorization_id is not None else None
    body = await json_body(request, ClearIn) if idem is not None else None
    if authorization_id is None or idem is None or body is None:
        return None
    return await _resolve(request, authorization_id, "clear", body.amount, request.app.state.clock, idem)


async def _lean_reverse(request: Request) -> Response | None:
    authorization_id = path_id(request)
    idem = await machine_caller(request) if authorization_id is not None else None
    if authorization_id is None or idem is None:
        return None
    return await _resolve(request, authorization_id, "reversed", 0, request.app.state.clock, idem)


LEAN.update({authorize: _lean_authorize, clear: _lean_clear, reverse: _lean_reverse})


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
