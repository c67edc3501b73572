"""The platform's last closed business day, as the sandbox sensor sees it.

One small function so the sensor can follow the billing branch's daily job:
when ``billing_runs`` exists, the last closed day is the latest day whose run
finished. Until then, the platform's "today" is the later of real today and
the latest day the ledger wrote on (the sandbox clock runs ahead of real
time), and the day before it is closed.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

_LAST_BILLING_RUN = "select max(day) from billing_runs where finished_at is not null"
_PLATFORM_TODAY = """
    select greatest((now() at time zone 'utc')::date,
                    (select max(created_at at time zone 'utc')::date from ledger_entries))
"""


_FIRST_ACTIVITY = """
    select least((select min(created_at) from applications),
                 (select min(created_at) from accounts),
                 (select min(created_at) from ledger_entries)) at time zone 'utc'
"""


def first_activity_day(conn: psycopg.Connection[tuple[object, ...]]) -> date | None:
    """The first day anything happened: a fresh sandbox has nothing to launch before it.

    Applications and accounts count, not only the ledger: an account opens days
    before its first purchase, and its day's extract must run or the facts would
    name accounts the dimension never saw.
    """
    row = conn.execute(_FIRST_ACTIVITY).fetchone()
    value = row[0] if row else None
    return value.date() if isinstance(value, datetime) else None


def last_closed_day(conn: psycopg.Connection[tuple[object, ...]]) -> date | None:
    has_runs = conn.execute("select to_regclass('billing_runs') is not null").fetchone()
    if has_runs and has_runs[0]:
        row = conn.execute(_LAST_BILLING_RUN).fetchone()
        value = row[0] if row else None
        return value if isinstance(value, date) else None
    row = conn.execute(_PLATFORM_TODAY).fetchone()
    today = row[0] if row else None
    if not isinstance(today, date):
        return None
    from datetime import timedelta

    return today - timedelta(days=1)
