from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pydantic_core
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.accounts import repository, service
from api.accounts.models import Account
from api.accounts.schemas import AccountOut
from api.audit import service as audit
from api.deps import (
    CurrentPrincipal,
    OriginDep,
    SessionDep,
    loop_connections,
    read_only_work,
    read_sessions,
    unit_of_work,
)
from api.errors import BadRequest, problem_responses
from api.ids import PathId
from api.network.schemas import TransactionOut
from api.pagination import CursorParam, LimitParam, Page, paginate
from api.responses import JSON

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], responses=problem_responses(401, 422))

AccountId = PathId


@router.get("")
def list_accounts(
    principal: CurrentPrincipal, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[AccountOut]:
    rows, next_cursor = paginate(
        session,
        repository.accounts_of_user(principal.user_id),
        created_at=Account.created_at,
        row_id=Account.id,
        limit=limit,
        cursor=cursor,
    )
    summaries = service.account_summaries(session, list(rows))
    return Page[AccountOut](data=[AccountOut.of(s) for s in summaries], next_cursor=next_cursor)


@router.get("/{id}", responses=problem_responses(404, s404="account_not_found"))
def get_account(
    id: AccountId, principal: CurrentPrincipal, session: SessionDep, origin: OriginDep
) -> AccountOut:
    account = service.visible_account(session, principal, id)
    audit.staff_read(
        session,
        reader_id=principal.user_id,
        reader_role=principal.role,
        owner_id=account.user_id,
        target=account.id,
        what="account",
        origin=origin,
    )
    return AccountOut.of(service.account_summaries(session, [account])[0])


@router.get(
    "/{id}/transactions",
    responses=problem_responses(404, s404="account_not_found"),
    response_model=Page[TransactionOut],
)
async def list_transactions(
    id: AccountId,
    principal: CurrentPrincipal,
    request: Request,
    origin: OriginDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
    status: service.HistoryStatus | None = None,
    type: Annotated[service.HistoryType | None, Query()] = None,
    created_from: Annotated[datetime | None, Query(alias="from")] = None,
    created_to: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    """The account's transactions, newest first, with its charge-off once written off; filter by
    status, type and a time range [from, to)."""

    # A customer's unfiltered page (what the app asks for most): on the event loop's own
    # connections, no thread-pool hop (api.db.StatementPools), autocommitted.
    connections = loop_connections(request) if principal.role == "customer" else None
    unfiltered = all(value is None for value in (status, type, created_from, created_to))
    if connections is not None and unfiltered:
        plain = await connections.run(
            lambda conn: service.plain_history_page(conn, principal, id, limit=limit, cursor=cursor),
            retry=True,
        )
        if plain is not None:
            return Response(
                pydantic_core.to_json({"data": plain[0], "next_cursor": plain[1]}), media_type=JSON
            )

    # One thread-pool call for the page's whole unit of work (a hot read: see api/network/router.py).
    # A customer's read writes nothing (staff reads write an audit row): autocommit, with no
    # BEGIN and COMMIT round trips; staff reads are one transaction with their audit row.
    reads = read_sessions(request) if principal.role == "customer" else None

    def page() -> bytes:
        with read_only_work(reads) if reads is not None else unit_of_work(request) as session:
            account = service.history_account(session, principal, id)
            audit.staff_read(  # writes only when staff read a customer's history
                session,
                reader_id=principal.user_id,
                reader_role=principal.role,
                owner_id=account.owner_id,
                target=account.id,
                what="transactions",
                origin=origin,
            )
            for value in (created_from, created_to):
                if value is not None and value.tzinfo is None:
                    raise BadRequest("Times need a UTC offset (RFC 3339).", code="invalid_time")
            entries, next_cursor = service.transaction_history(
                session,
                account,
                limit=limit,
                cursor=cursor,
                status=status,
                type_=type,
                created_from=created_from,
                created_to=created_to,
            )
        # Serialised straight from the rows (see transaction_out_dict): the same JSON as Page[TransactionOut].
        return pydantic_core.to_json({"data": entries, "next_cursor": next_cursor})

    return Response(await run_in_threadpool(page), media_type=JSON)
