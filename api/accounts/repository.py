from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from sqlalchemy import Row, RowMapping, Select, bindparam, select, tuple_
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.ledger.models import LedgerTransfer
from api.network.models import Transaction
from api.pagination import decode_cursor, encode_cursor


def select_account(session: Session, account_id: str) -> Account | None:
    return session.get(Account, account_id)


def lock_account(session: Session, account_id: str) -> Account:
    """The account's row, locked for this transaction (it must exist)."""
    return session.get_one(Account, account_id, with_for_update=True)


def select_open_account_id(session: Session, user_id: str) -> str | None:
    """The id of one of the user's accounts that is not closed, if any."""
    row = session.execute(
        select(Account.id).where(Account.user_id == user_id, Account.status != "closed").limit(1)
    ).first()
    return row[0] if row is not None else None


def _history_account_statement() -> Select[str, str | None, int | None]:
    from api.billing.models import AccountBilling

    return (
        select(Account.user_id, AccountBilling.charge_off_transfer_id, AccountBilling.charged_off_amount)
        .outerjoin(AccountBilling, AccountBilling.account_id == Account.id)
        .where(Account.id == bindparam("account_id"))
    )


_HISTORY_ACCOUNT: Select[str, str | None, int | None] | None = None


def history_account_row(session: Session, account_id: str) -> Row[str, str | None, int | None] | None:
    """The account's owner and charge-off (if any), in one query: what a history page checks.

    The hot read's statements are built once (SQLAlchemy then reuses their cache key and
    compiled form) and run as Core statements on the session's connection (no ORM compile
    step: they return plain rows)."""
    global _HISTORY_ACCOUNT
    if _HISTORY_ACCOUNT is None:
        _HISTORY_ACCOUNT = _history_account_statement()
    return session.connection().execute(_HISTORY_ACCOUNT, {"account_id": account_id}).one_or_none()


def select_transfer(session: Session, transfer_id: str) -> LedgerTransfer | None:
    """A ledger transfer by id (the charge-off's, for the history)."""
    return session.get(LedgerTransfer, transfer_id)


def accounts_of_user(user_id: str) -> Select[Any]:
    return select(Account).where(Account.user_id == user_id)


# The columns of a history page: exactly what TransactionOut shows.
_PAGE_COLUMNS = (
    Transaction.id,
    Transaction.account_id,
    Transaction.card_id,
    Transaction.type,
    Transaction.status,
    Transaction.amount,
    Transaction.currency,
    Transaction.authorized_amount,
    Transaction.merchant_name,
    Transaction.merchant_mcc,
    Transaction.merchant_country,
    Transaction.decline_code,
    Transaction.closed_reason,
    Transaction.original_transaction_id,
    Transaction.refunded_amount,
    Transaction.created_at,
    Transaction.posted_at,
)


def transaction_page(
    session: Session,
    account_id: str,
    *,
    status: str | None,
    type_: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[RowMapping], str | None]:
    """One page of an account's transactions, newest first, as plain rows (no ORM objects).

    Keyset pagination on ``ix_transactions_account_created`` (account_id,
    created_at, id): an Index Scan Backward that reads ``limit + 1`` rows
    whatever the history's length.
    """
    filtered = status is not None or type_ is not None or created_from is not None or created_to is not None
    params: dict[str, Any] = {"account_id": account_id, "rows": limit + 1}
    if cursor is not None:
        params["after_created"], params["after_id"] = decode_cursor(cursor)
    if filtered:
        statement = _page_statement(
            status=status, type_=type_, created_from=created_from, created_to=created_to, cursor=cursor
        )
    else:  # the usual page: a statement built once
        statement = _NEXT_PAGE if cursor is not None else _FIRST_PAGE
    rows = list(session.connection().execute(statement, params).mappings())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]["created_at"], rows[-1]["id"])


def _page_statement(
    *,
    status: str | None = None,
    type_: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    cursor: str | None = None,
) -> Select[*tuple[Any, ...]]:
    """The page's statement; bound at run time: ``account_id``, ``rows`` and, after a cursor,
    ``after_created`` and ``after_id``."""
    statement = select(*_PAGE_COLUMNS).where(Transaction.account_id == bindparam("account_id"))
    if status is not None:
        statement = statement.where(Transaction.status == status)
    if type_ is not None:
        statement = statement.where(Transaction.type == type_)
    if created_from is not None:
        statement = statement.where(Transaction.created_at >= created_from)
    if created_to is not None:
        statement = statement.where(Transaction.created_at < created_to)
    if cursor is not None:
        statement = statement.where(
            tuple_(Transaction.created_at, Transaction.id)
            < tuple_(bindparam("after_created", type_=Transaction.created_at.type), bindparam("after_id"))
        )
    return statement.order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(bindparam("rows"))


_FIRST_PAGE = _page_statement()
_NEXT_PAGE = _page_statement(cursor="next")


# --- the same two reads on the event loop's own connections (api.db.StatementPools) --------------
#
# The statements above, compiled once for psycopg (``%(name)s`` parameters): the same SQL as
# the Session runs, and the same row shape (column names as keys).
_COMPILED: dict[str, str] = {}


def _sql(name: str) -> str:
    if not _COMPILED:
        global _HISTORY_ACCOUNT
        if _HISTORY_ACCOUNT is None:
            _HISTORY_ACCOUNT = _history_account_statement()
        dialect = psycopg_dialect.dialect()  # type: ignore[no-untyped-call]
        for key, statement in (
            ("account", _HISTORY_ACCOUNT),
            ("first", _FIRST_PAGE),
            ("next", _NEXT_PAGE),
        ):
            _COMPILED[key] = str(statement.compile(dialect=dialect))
    return _COMPILED[name]


async def history_account_row_async(conn: AsyncConnection, account_id: str) -> Mapping[str, Any] | None:
    """``history_account_row`` on a loop connection: ``user_id``, ``charge_off_transfer_id``,
    ``charged_off_amount``."""
    cursor = conn.cursor(row_factory=dict_row)
    await cursor.execute(_sql("account"), {"account_id": account_id})
    return await cursor.fetchone()


async def transaction_page_async(
    conn: AsyncConnection, account_id: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """``transaction_page`` without filters on a loop connection."""
    params: dict[str, Any] = {"account_id": account_id, "rows": limit + 1}
    if cursor is not None:
        params["after_created"], params["after_id"] = decode_cursor(cursor)
    result = conn.cursor(row_factory=dict_row)
    await result.execute(_sql("first" if cursor is None else "next"), params)
    rows = await result.fetchall()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
