"""Authorizations that arrive together share one statement and one commit (``api.network.batching``,
``network_authorize_many``), and each still gets the answer it would get alone.

The batches run on real connections to the test database (``api.db.StatementPools``); a batch
is formed by starting the authorizations in one turn of an event loop, as concurrent requests
arrive while the statement slot is taken.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.db import StatementPools
from api.network import batching
from api.network.schemas import AuthorizationOut
from cardportal.database import libpq_conninfo
from tests.factories import network_authorization, network_resolution, open_card_account

T = TypeVar("T")


def _run(database_url: str, work: Callable[[StatementPools], Coroutine[Any, Any, T]]) -> T:
    """``work`` on an event loop that has a statement pool on the test database."""
    pools = StatementPools(database_url, max_size=4)

    async def main() -> T:
        async with pools.serving():
            return await work(pools)

    return asyncio.run(main())


def _arguments(app: FastAPI, card_id: str, amount: int, key: str | None = None) -> dict[str, Any]:
    return network_authorization(
        card_id, amount, app.state.clock.now(), key=key, fingerprint=f"fingerprint-{amount}"
    )


def _committed_together(database_url: str, ids: list[str]) -> int:
    """How many transactions wrote these authorizations' rows."""
    with psycopg.connect(libpq_conninfo(database_url)) as connection:
        row = connection.execute(
            "select count(distinct xmin::text) from transactions where id = any(%s)", (ids,)
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def cards(app: FastAPI, session: Session) -> list[tuple[str, str]]:
    """(account id, card id) of two open accounts with a $100 limit each."""
    found = []
    for _ in range(2):
        _, account_id, card_id = open_card_account(session, app, credit_limit=100_00)
        found.append((account_id, card_id))
    return found


def test_authorizations_that_arrive_together_commit_together_and_answer_as_alone(
    app: FastAPI, database_url: str, cards: list[tuple[str, str]]
) -> None:
    (account_a, card_a), (_, card_b) = cards
    messages = [
        _arguments(app, card_a, 60_00),
        _arguments(app, card_b, 30_00),
        _arguments(app, card_a, 50_00),  # over what the first left: declined, in order
        _arguments(app, "card_unknown", 10_00),
        _arguments(app, card_a, 40_00),
    ]

    async def work(pools: StatementPools) -> list[dict[str, Any]]:
        batches = batching.authorizations(pools, max_in_flight=1)
        return await asyncio.gather(*(batches.run(m) for m in messages))

    rows = _run(database_url, work)
    outcomes = [row["outcome"] for row in rows]
    assert outcomes == ["ok", "ok", "ok", "card_not_found", "ok"]
    answers = [AuthorizationOut.model_validate_json(rows[i]["body"]) for i in (0, 1, 2, 4)]
    assert [(a.approved, a.decline_code, a.available_credit) for a in answers] == [
        (True, None, 40_00),
        (True, None, 70_00),
        (False, "insufficient_credit", 40_00),
        (True, None, 0),
    ]
    assert {a.account_id for a in answers if a.card_id == card_a} == {account_a}
    # Sent in one turn of the loop: one statement, one transaction.
    assert _committed_together(database_url, [m["id"] for m in messages]) == 1


def test_one_key_twice_in_a_wait_goes_in_two_statements_and_replays(
    app: FastAPI, database_url: str, cards: list[tuple[str, str]]
) -> None:
    (_, card_a), (_, card_b) = cards
    first = _arguments(app, card_a, 10_00, key="key-1")
    again = first | {"id": "auth_other", "transfer_id": "tr_other"}  # a retry: same key and body

    async def work(pools: StatementPools) -> list[dict[str, Any]]:
        batches = batching.authorizations(pools, max_in_flight=1)
        return await asyncio.gather(
            batches.run(_arguments(app, card_b, 5_00)),
            batches.run(first),
            batches.run(again),
            batches.run(_arguments(app, card_b, 6_00, key="key-2")),
        )

    rows = _run(database_url, work)
    # The retry waited for the next statement and found the first's stored answer.
    assert [row["outcome"] for row in rows] == ["ok", "ok", "replayed", "ok"]
    assert rows[2]["body"] == rows[1]["body"]
    assert json.loads(rows[2]["body"])["id"] == first["id"]


def test_a_message_that_fails_the_batch_fails_alone(
    app: FastAPI, database_url: str, cards: list[tuple[str, str]]
) -> None:
    (_, card_a), (_, card_b) = cards
    taken = _arguments(app, card_a, 10_00)
    duplicate = _arguments(app, card_b, 20_00) | {"id": taken["id"]}  # its row's id exists
    others = [_arguments(app, card_a, 30_00), _arguments(app, card_b, 40_00)]

    async def work(pools: StatementPools) -> list[dict[str, Any] | BaseException]:
        batches = batching.authorizations(pools, max_in_flight=1)
        await batches.run(taken)
        return await asyncio.gather(
            batches.run(_arguments(app, card_b, 1_00)),
            batches.run(others[0]),
            batches.run(duplicate),
            batches.run(others[1]),
            return_exceptions=True,
        )

    results = _run(database_url, work)
    error = results[2]
    assert isinstance(error, DBAPIError)
    assert isinstance(error.orig, psycopg.errors.UniqueViolation)
    assert [r["outcome"] for i, r in enumerate(results) if i != 2 and isinstance(r, dict)] == ["ok"] * 3
    # The batch was rolled back and its messages sent again, each in its own transaction.
    assert _committed_together(database_url, [m["id"] for m in others]) == 2


def test_clears_and_reversals_that_arrive_together_commit_together_and_answer_as_alone(
    app: FastAPI, database_url: str, cards: list[tuple[str, str]]
) -> None:
    (_, card_a), (_, card_b) = cards
    holds = [_arguments(app, card_a, 10_00), _arguments(app, card_b, 20_00), _arguments(app, card_a, 30_00)]

    def resolution(authorization_id: str, action: str, amount: int) -> dict[str, Any]:
        fingerprint = f"fingerprint-{authorization_id}-{action}"
        return network_resolution(
            authorization_id, action, amount, app.state.clock.now(), fingerprint=fingerprint
        )

    messages = [
        resolution(holds[0]["id"], "clear", 12_00),  # more than the hold, and 5411 takes no tips
        resolution(holds[1]["id"], "clear", 20_00),
        resolution(holds[2]["id"], "reversed", 0),
        resolution(holds[1]["id"], "reversed", 0),  # already cleared, earlier in the batch
        resolution("auth_unknown", "clear", 1_00),
    ]

    async def work(pools: StatementPools) -> list[dict[str, Any]]:
        for hold in holds:
            assert (await batching.authorizations(pools).run(hold))["outcome"] == "ok"
        batches = batching.resolutions(pools, max_in_flight=1)
        return await asyncio.gather(*(batches.run(m) for m in messages))

    rows = _run(database_url, work)
    assert [row["outcome"] for row in rows] == [
        "clear_exceeds_authorization",
        "ok",
        "ok",
        "authorization_already_cleared",
        "authorization_not_found",
    ]
    assert rows[0]["max_amount"] == 10_00
    assert [json.loads(rows[i]["body"])["status"] for i in (1, 2)] == ["posted", "reversed"]
    with psycopg.connect(libpq_conninfo(database_url)) as connection:
        row = connection.execute(
            "select count(distinct xmin::text) from transactions where id = any(%s)",
            ([holds[1]["id"], holds[2]["id"]],),
        ).fetchone()
    assert row == (1,)
