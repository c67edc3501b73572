"""Cursor pagination for lists: newest first, stable under inserts.

The cursor is the (created_at, id) of the last row of a page, opaque to the
caller (base64url JSON). The next page is everything strictly older in that
order, so rows inserted meanwhile never shift or repeat a page. Each listed
table has an index on (created_at, id) or a leading filter column before it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.errors import BadRequest

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size, 1 to 200.")]
CursorParam = Annotated[
    str | None, Query(max_length=200, description="The `next_cursor` of the previous page.")
]


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        parsed = datetime.fromisoformat(created_at)
        # Ids are short and printable (a NUL byte would reach PostgreSQL, which refuses it).
        if (
            not isinstance(row_id, str)
            or not row_id.isprintable()
            or len(row_id) > 64
            or parsed.tzinfo is None
        ):
            raise ValueError
        return parsed, row_id
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not one this API returned.", code="invalid_cursor") from exc


def paginate(
    session: Session,
    statement: Select[Any],
    *,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """One page of ``statement``'s rows (newest first) and the cursor of the next."""
    if cursor is not None:
        after_created, after_id = decode_cursor(cursor)
        statement = statement.where(tuple_(created_at, row_id) < tuple_(after_created, after_id))
    statement = statement.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)
    rows: Sequence[Any] = session.execute(statement).scalars().all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, created_at.key), getattr(last, row_id.key))
