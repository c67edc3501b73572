"""The sensor's first day: the first day anything happened, accounts before purchases included."""

from __future__ import annotations

from datetime import UTC, timedelta

import psycopg
from sqlalchemy.orm import Session

from cardportal.database import libpq_conninfo
from pipelines.clock import first_activity_day
from tests.factories import open_card_account


def test_first_activity_day_counts_an_account_opened_before_any_ledger_entry(
    session: Session, app: object, database_url: str
) -> None:
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        assert first_activity_day(conn) is None
    _, account_id, _ = open_card_account(session, app, credit_limit=100_000)
    opened = app.state.clock.now()  # type: ignore[attr-defined]
    with psycopg.connect(libpq_conninfo(database_url)) as conn:
        assert conn.execute("select count(*) from ledger_entries").fetchone() == (0,)
        # The account opened a week ago; the sensor must start from that day, not the ledger's.
        conn.execute(
            "update accounts set created_at = created_at - interval '7 days' where id = %s", (account_id,)
        )
        assert first_activity_day(conn) == (opened - timedelta(days=7)).astimezone(UTC).date()
