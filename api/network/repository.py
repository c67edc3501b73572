"""The network domain's queries: a card with its account, the authorization rows, and the
database functions an authorization's life runs in (``network_authorize``, ``network_resolve``,
and the API's one-statement forms of them, ``network_authorize_once`` and
``network_resolve_once``; ``api/network/sql/``), called with the arguments
``api.network.service`` prepares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from sqlalchemy import Row, RowMapping, select, text
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.cards.models import Card
from api.db import driver_error
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


# The API's forms: the Idempotency-Key's lock and look-up, the function above, the answer's
# JSON and its storing, in one statement that the API runs in autocommit (psycopg, async).
_AUTHORIZE_ONCE = (
    "select outcome, status_code, body from network_authorize_once("
    "%(scope)s, %(key)s::text, %(lock)s::bigint, %(fingerprint)s, %(ttl)s::interval,"
    " %(id)s, %(transfer_id)s, %(card_id)s, %(amount)s::bigint, %(currency)s, %(merchant_name)s,"
    " %(merchant_mcc)s, %(mcc_group)s, %(merchant_country)s, %(now)s::timestamptz,"
    " %(currencies)s::text[], %(max_amount)s::bigint)"
)
_RESOLVE_ONCE = (
    "select outcome, max_amount, status_code, body from network_resolve_once("
    "%(scope)s, %(key)s::text, %(lock)s::bigint, %(fingerprint)s, %(ttl)s::interval,"
    " %(id)s, %(action)s, %(amount)s::bigint, %(now)s::timestamptz, %(transfer_id)s,"
    " %(tipping)s::text[], %(tip_bps)s::integer)"
)


# Several authorizations in one statement, one commit (api.network.batching): each message's
# arguments as arrays, in order; each answer in its row.
_AUTHORIZE_MANY = (
    "select message_index, outcome, status_code, body from network_authorize_many("
    "%(scope)s::text[], %(key)s::text[], %(lock)s::bigint[], %(fingerprint)s::text[],"
    " %(ttl)s::interval[], %(id)s::text[], %(transfer_id)s::text[], %(card_id)s::text[],"
    " %(amount)s::bigint[], %(currency)s::text[], %(merchant_name)s::text[],"
    " %(merchant_mcc)s::text[], %(mcc_group)s::text[], %(merchant_country)s::text[],"
    " %(now)s::timestamptz[], %(currencies)s::text[], %(max_amount)s::bigint)"
)
_RESOLVE_MANY = (
    "select message_index, outcome, max_amount, status_code, body from network_resolve_many("
    "%(scope)s::text[], %(key)s::text[], %(lock)s::bigint[], %(fingerprint)s::text[],"
    " %(ttl)s::interval[], %(id)s::text[], %(action)s::text[], %(amount)s::bigint[],"
    " %(now)s::timestamptz[], %(transfer_id)s::text[], %(tipping)s::text[], %(tip_bps)s::integer)"
)
# The arguments that are the same for every message of a batch (the rules it checks).
_SHARED = ("currencies", "max_amount", "tipping", "tip_bps")


async def _rows(
    connection: AsyncConnection, statement: str, arguments: Mapping[str, Any]
) -> list[dict[str, Any]]:
    try:
        async with connection.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(statement, arguments)
            return await cursor.fetchall()
    except psycopg.Error as error:
        raise driver_error(statement, None, error) from error


async def _one(connection: AsyncConnection, statement: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    rows = await _rows(connection, statement, arguments)
    assert len(rows) == 1
    return rows[0]


async def network_authorize_once(connection: AsyncConnection, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``outcome``, ``status_code``, ``body`` (the answer's JSON text)."""
    return await _one(connection, _AUTHORIZE_ONCE, arguments)


async def network_authorize_many(
    connection: AsyncConnection, messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per message, in order: ``outcome``, ``status_code``, ``body``, as ``network_authorize_once``
    answers it (``messages`` share their ``currencies`` and ``max_amount``)."""
    return await _many(connection, _AUTHORIZE_MANY, messages)


async def network_resolve_many(
    connection: AsyncConnection, messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per message, in order: ``outcome``, ``max_amount``, ``status_code``, ``body``, as
    ``network_resolve_once`` answers it (``messages`` share their ``tipping`` and ``tip_bps``)."""
    return await _many(connection, _RESOLVE_MANY, messages)


async def _many(
    connection: AsyncConnection, statement: str, messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    first = messages[0]
    arguments = {name: [m[name] for m in messages] for name in first if name not in _SHARED}
    arguments |= {name: first[name] for name in _SHARED if name in first}
    rows = await _rows(connection, statement, arguments)
    if [row.pop("message_index") for row in rows] != list(range(1, len(messages) + 1)):
        raise AssertionError("a batch's answers are not one per message, in order")
    return rows


async def network_resolve_once(connection: AsyncConnection, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``outcome``, ``max_amount`` (for clear_exceeds_authorization), ``status_code``, ``body``."""
    return await _one(connection, _RESOLVE_ONCE, arguments)
