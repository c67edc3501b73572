"""Every query the dashboards run: the warehouse's marts, read-only, cached.

- One engine per warehouse URL (``st.cache_resource``), logged in as the
  dashboards' own role ``cardportal_dashboards`` (``DASHBOARDS_WAREHOUSE_URL``),
  which may only read the marts and the report registry; transactions are
  read-only too. The process holds no owner's credentials (issue 21, finding 3).
- Loaders are ``st.cache_data`` functions keyed by plain values (SQL text,
  parameter tuples, dates) and by the warehouse's published version
  (:func:`published_version`): the marts change only when a run publishes (and the
  report registry when a run registers files), so a figure is read once per
  version and every page shows a new publish on its next render, whatever the
  cache's age. The cache holds the marts only, the same for every staff member: nothing
  of the signed-in user (token, role, fetched files) is a key or a cached value.
  Pages query the ``rpt_`` and ``dim_`` marts, never ``fct_transactions`` whole,
  and never the operational database.
- A mart that does not exist (yet, in an old warehouse) is reported by
  :func:`mart_exists`, so a page can say "not built yet".
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
import streamlit as st
from sqlalchemy.engine import Engine

from cardportal.database import ping_when_idle, with_driver
from cardportal.warehouse import reader_connect_args

# A published version's figures never change: the TTL only bounds memory (with max_entries).
TTL_SECONDS = 6 * 3600
MAX_ENTRIES = 4096
MARTS = "marts"


@dataclass(frozen=True)
class Config:
    warehouse_url: str
    dagster_url: str | None
    home: Path
    dagster_ui_url: str

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"


class NotConfigured(RuntimeError):
    """The dashboards were started without their readers' URLs."""


@st.cache_resource
def config() -> Config:
    """The dashboards' own logins and the home, from their environment (``cardportal dashboards``
    and ``cardportal up`` set it): never an owner's URL, never the platform's settings."""
    warehouse = os.environ.get("DASHBOARDS_WAREHOUSE_URL", "").strip()
    if not warehouse:
        raise NotConfigured(
            "DASHBOARDS_WAREHOUSE_URL is not set: start the dashboards with `cardportal dashboards` "
            "(or `cardportal up`), or set it to the dashboards' own read-only login"
        )
    dagster = os.environ.get("DASHBOARDS_DAGSTER_URL", "").strip() or None
    home = Path(os.environ.get("CARDPORTAL_HOME") or ".cardportal").expanduser().resolve()
    ui = os.environ.get("DAGSTER_UI_URL") or f"http://localhost:{os.environ.get('DAGSTER_PORT', '3000')}"
    return Config(warehouse_url=warehouse, dagster_url=dagster, home=home, dagster_ui_url=ui)


@st.cache_resource
def engine(url: str) -> Engine:
    """The warehouse as the dashboards' login (it can only read); every transaction read-only.

    No ``pool_pre_ping``: its ``SELECT 1`` on every checkout was a round trip per page query
    (a page runs several in a row). A connection idle for a second or more is pinged first and
    replaced if its server went away; one used just now is used as is (were the server gone
    meanwhile, that query fails and SQLAlchemy invalidates the pool): ``cardportal.database.ping_when_idle``.
    """
    made = sa.create_engine(
        with_driver(url, "psycopg"),
        pool_size=2,
        max_overflow=2,
        pool_recycle=1800,
        connect_args=reader_connect_args(),
    )

    ping_when_idle(made)
    return made


def _read(url: str, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    with engine(url).connect() as conn:
        return pd.read_sql_query(sa.text(sql), conn, params=params)


# What changes the dashboards' figures: a publish of the marts, a report file registered, a dbt
# build's test results recorded (reporting.*, cardportal.warehouse). Read once per script run,
# with the marts this login may read (the catalogue, not information_schema's slower views): one
# round trip where a cold page paid two (issue 24).
_MARTS_SQL = (
    "select c.relname::text as relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
    "where n.nspname = :schema and c.relkind in ('r', 'v', 'm', 'p') "
    "and has_table_privilege(c.oid, 'select')"
)
_VERSION_SQL = f"""
select concat_ws('|',
    (select max(published_at) from reporting.published_days),
    (select max(created_at) from reporting.report_files),
    (select max(recorded_at) from reporting.dbt_test_results)) as version,
    array({_MARTS_SQL}) as marts
"""
# A script run is one thread (Streamlit starts one per run); a thread that reruns reuses the
# version for at most this long.
_VERSION_SECONDS = 1.0
_run = threading.local()


def _published() -> tuple[str, frozenset[str]]:
    """The warehouse's published version and the marts this login may read, read once per script
    run (one small query)."""
    now = time.monotonic()
    known = getattr(_run, "published", None)
    if known is not None and now - known[0] < _VERSION_SECONDS:
        return known[1]  # type: ignore[no-any-return]
    url = config().warehouse_url
    try:
        row = _read(url, _VERSION_SQL, {"schema": MARTS}).iloc[0]
        published = (str(row["version"]), frozenset(row["marts"]))
    except sa.exc.ProgrammingError:
        # A warehouse without the registry (never set up by the platform): five-minute buckets.
        marts = _read(url, _MARTS_SQL, {"schema": MARTS})
        published = (f"unversioned-{int(time.time() // 300)}", frozenset(marts["relname"]))
    _run.published = (now, published)
    return published


def published_version() -> str:
    """The warehouse's published version, read once per script run (with :func:`existing_marts`)."""
    return _published()[0]


@st.cache_data(ttl=TTL_SECONDS, max_entries=MAX_ENTRIES, show_spinner=False)
def _query(sql: str, params: tuple[tuple[str, Any], ...], version: str) -> pd.DataFrame:  # noqa: ARG001 (the cache key)
    return _read(config().warehouse_url, sql, dict(params))


def query(sql: str, params: tuple[tuple[str, Any], ...] = ()) -> pd.DataFrame:
    """A cached query on the marts; ``params`` as ``(("name", value), …)`` so it hashes."""
    return _query(sql, params, published_version())


def existing_marts() -> frozenset[str]:
    """The marts this login may read, as of this script run's :func:`published_version`."""
    return _published()[1]


def mart_exists(name: str) -> bool:
    return name in existing_marts()


# Card activity (rpt_card_activity_daily/weekly/monthly) ------------------------------------

GRAINS = {
    "daily": "rpt_card_activity_daily",
    "weekly": "rpt_card_activity_weekly",
    "monthly": "rpt_card_activity_monthly",
}
_ACTIVITY_COLUMNS = (
    "period_start, mcc_group, purchase_volume_cents, purchase_count, refund_volume_cents, active_accounts, "
    "average_ticket_cents, authorizations_count, approved_count, approval_rate::float8 as approval_rate"
)


def periods(grain: str) -> list[Any]:
    """Every period of a grain with activity, newest first."""
    frame = query(f"select period_start from {MARTS}.{GRAINS[grain]} where mcc_group = 'all' order by 1 desc")
    return list(frame["period_start"])


def activity(
    grain: str, *, first: Any = None, last: Any = None, mcc_group: str | None = "all"
) -> pd.DataFrame:
    """Activity rows of a grain between two period starts (inclusive), one MCC group or all of them."""
    where, params = ["true"], []
    if first is not None:
        where.append("period_start >= :first")
        params.append(("first", first))
    if last is not None:
        where.append("period_start <= :last")
        params.append(("last", last))
    if mcc_group is not None:
        where.append("mcc_group = :group")
        params.append(("group", mcc_group))
    return query(
        f"select {_ACTIVITY_COLUMNS} from {MARTS}.{GRAINS[grain]} where {' and '.join(where)} "
        "order by period_start, mcc_group",
        tuple(params),
    )


def latest_activity(grain: str, *, days: int) -> pd.DataFrame:
    """:func:`activity` (MCC group ``all``) of the ``days`` days up to the latest period with activity."""
    mart = f"{MARTS}.{GRAINS[grain]}"
    return query(
        f"select {_ACTIVITY_COLUMNS} from {mart} where mcc_group = 'all' and period_start >= "
        f"(select max(period_start) from {mart} where mcc_group = 'all') - cast(:back as integer) "
        "order by period_start, mcc_group",
        (("back", days - 1),),
    )


def weekday_pattern(first: Any, last: Any) -> pd.DataFrame:
    return query(
        f"""
        select d.iso_day_of_week, to_char(d.date_day, 'Dy') as weekday,
               avg(a.purchase_volume_cents)::float8 as average_volume_cents,
               avg(a.purchase_count)::float8 as average_count
        from {MARTS}.rpt_card_activity_daily a
        join {MARTS}.dim_date d on d.date_day = a.period_start
        where a.mcc_group = 'all' and a.period_start between :first and :last
        group by 1, 2 order by 1
        """,
        (("first", first), ("last", last)),
    )


def top_merchants(limit: int = 15) -> pd.DataFrame:
    return query(
        f"select merchant_name, mcc_group, merchant_country, transactions_count, first_seen_date "
        f"from {MARTS}.dim_merchants order by transactions_count desc, merchant_name limit :limit",
        (("limit", limit),),
    )


# Receivables, accounts, applications, API usage -------------------------------------------


def receivables(first: Any = None, last: Any = None) -> pd.DataFrame:
    return query(
        f"""
        select balance_date, outstanding_balance_cents, pending_holds_cents, total_credit_limit_cents,
               utilisation_rate::float8 as utilisation_rate, accounts_with_balance, open_accounts
        from {MARTS}.rpt_receivables_daily
        where (cast(:first as date) is null or balance_date >= :first)
          and (cast(:last as date) is null or balance_date <= :last)
        order by balance_date
        """,
        (("first", first), ("last", last)),
    )


def receivable_at(day: Any) -> pd.Series | None:
    """The receivables row at a day's end (the latest on or before it)."""
    return receivables_at([day])[day]


def _asked_dates(items: Sequence[Any], prefix: str) -> tuple[list[Any], str, tuple[tuple[str, Any], ...]]:
    """Distinct dates in order, as a ``values`` list of ``(date)`` rows and its parameters."""
    unique = list(dict.fromkeys(items))
    values = ", ".join(f"(cast(:{prefix}{n} as date))" for n in range(len(unique)))
    return unique, values, tuple((f"{prefix}{n}", item) for n, item in enumerate(unique))


def receivables_at(days: Sequence[Any]) -> dict[Any, pd.Series | None]:
    """:func:`receivable_at` of several days in one query: each day's row, or None."""
    unique, values, params = _asked_dates(days, "d")
    if not unique:
        return {}
    frame = query(
        f"""
        select asked.day as asked_day, r.balance_date, r.outstanding_balance_cents,
               r.pending_holds_cents, r.total_credit_limit_cents, r.utilisation_rate, r.accounts_with_balance,
               r.open_accounts
        from (values {values}) as asked(day)
        left join lateral (
            select balance_date, outstanding_balance_cents, pending_holds_cents, total_credit_limit_cents,
                   utilisation_rate::float8 as utilisation_rate, accounts_with_balance, open_accounts
            from {MARTS}.rpt_receivables_daily where balance_date <= asked.day
            order by balance_date desc limit 1
        ) as r on true
        """,
        params,
    )
    found: dict[Any, pd.Series | None] = {}
    for day, (_, row) in zip(unique, frame.iterrows(), strict=True):
        found[day] = None if pd.isna(row["balance_date"]) else row.drop("asked_day")
    return found


def activity_periods(wanted: Sequence[tuple[str, Any, Any]]) -> dict[str, pd.DataFrame]:
    """:func:`activity` (MCC group ``all``) of several grains, each between two period starts, at once."""
    parts = [
        f"select '{grain}' as grain, {_ACTIVITY_COLUMNS} from {MARTS}.{GRAINS[grain]} "
        f"where mcc_group = 'all' and period_start >= :f{n} and period_start <= :l{n}"
        for n, (grain, _, _) in enumerate(wanted)
    ]
    params: list[tuple[str, Any]] = []
    for n, (_, first, last) in enumerate(wanted):
        params += [(f"f{n}", first), (f"l{n}", last)]
    frame = query(" union all ".join(parts) + " order by grain, period_start, mcc_group", tuple(params))
    return {
        grain: frame[frame["grain"] == grain].drop(columns="grain").reset_index(drop=True)
        for grain, _, _ in wanted
    }


def monthly_revenue_at(months: Sequence[Any]) -> dict[Any, Any]:
    """Interest and fee income of each month (first days) in one query; None for a month without a row."""
    unique, values, params = _asked_dates(months, "m")
    if not unique:
        return {}
    frame = query(
        f"""
        select (select sum(interest_income_cents + fee_income_cents) from {MARTS}.rpt_revenue_monthly
                where period_start = asked.month) as revenue_cents
        from (values {values}) as asked(month)
        """,
        params,
    )
    return dict(zip(unique, frame["revenue_cents"], strict=True))


def credit_limits() -> pd.DataFrame:
    return query(
        f"select status, credit_limit_cents, apr_bps, opened_date from {MARTS}.dim_accounts "
        "order by opened_date"
    )


def applications(first: Any = None, last: Any = None) -> pd.DataFrame:
    return query(
        f"""
        select application_date, applied_count, approved_count, declined_count, manual_review_count,
               approval_rate::float8 as approval_rate, top_decline_reason
        from {MARTS}.rpt_application_funnel
        where (cast(:first as date) is null or application_date >= :first)
          and (cast(:last as date) is null or application_date <= :last)
        order by application_date
        """,
        (("first", first), ("last", last)),
    )


def api_usage(first: Any, last: Any) -> pd.DataFrame:
    return query(
        f"""
        select request_date, method, route, requests_count, client_error_count, server_error_count,
               error_rate::float8 as error_rate, p50_ms, p95_ms, p99_ms
        from {MARTS}.rpt_api_usage_daily where request_date between :first and :last
        order by request_date, route, method
        """,
        (("first", first), ("last", last)),
    )


def api_days() -> list[Any]:
    frame = query(f"select distinct request_date from {MARTS}.rpt_api_usage_daily order by 1 desc")
    return list(frame["request_date"])


def reconciliation(limit: int = 31) -> pd.DataFrame:
    return query(
        f"select * from {MARTS}.rpt_ledger_reconciliation order by movement_date desc limit :limit",
        (("limit", limit),),
    )


# Payments, revenue, delinquency (rpt_payments, rpt_revenue_monthly, rpt_delinquency) ----------


def payments_daily() -> pd.DataFrame:
    """rpt_payments from the first day with a payment on (days before it are all zeros)."""
    return query(
        f"""
        select payment_date, payments_count, succeeded_count, succeeded_cents, failed_count, failed_cents,
               pending_count, full_count, partial_count, minimum_count, below_minimum_count,
               no_statement_count, returned_count, returned_cents, autopay_count, autopay_succeeded_cents,
               exceptions_count, payment_rate::float8 as payment_rate, autopay_accounts, open_accounts,
               autopay_uptake_rate::float8 as autopay_uptake_rate
        from {MARTS}.rpt_payments
        where payment_date >= coalesce(
            (select min(payment_date) from {MARTS}.rpt_payments
             where payments_count > 0 or returned_count > 0),
            (select max(payment_date) from {MARTS}.rpt_payments))
        order by payment_date
        """
    )


def revenue_monthly() -> pd.DataFrame:
    return query(
        f"""
        select period_start, interest_income_cents, late_fee_income_cents, other_fee_income_cents,
               fee_income_cents, total_income_cents, interest_charges_count, fees_count, accounts_charged,
               charged_off_cents, income_less_charge_offs_cents
        from {MARTS}.rpt_revenue_monthly order by period_start
        """
    )


def delinquency_daily() -> pd.DataFrame:
    return query(
        f"""
        select date_day, accounts_count, current_count, dpd_1_29_count, dpd_30_59_count, dpd_60_89_count,
               dpd_90_plus_count, dpd_30_plus_count, balance_cents, dpd_1_29_balance_cents,
               dpd_30_59_balance_cents, dpd_60_89_balance_cents, dpd_90_plus_balance_cents,
               dpd_30_plus_balance_rate::float8 as dpd_30_plus_balance_rate, past_due_cents,
               charge_offs_count, charged_off_cents, is_month_end,
               roll_rate_current_to_1_29::float8 as roll_rate_current_to_1_29,
               roll_rate_1_29_to_30_59::float8 as roll_rate_1_29_to_30_59,
               roll_rate_30_59_to_60_89::float8 as roll_rate_30_59_to_60_89,
               roll_rate_60_89_to_90_plus::float8 as roll_rate_60_89_to_90_plus,
               roll_rate_90_plus_to_charge_off::float8 as roll_rate_90_plus_to_charge_off
        from {MARTS}.rpt_delinquency order by date_day
        """
    )


# The monthly finance pack's roll-forward and month-end delinquency (rpt_finance_monthly) ---------

ROLL_FORWARD_LINES = (
    # (label, column, sign in the roll-forward)
    ("Opening receivables", "opening_receivables_cents", 1),
    ("Purchases", "purchases_cents", 1),
    ("Refunds", "refunds_cents", -1),
    ("Payments", "payments_cents", -1),
    ("Returned payments", "returned_payments_cents", 1),
    ("Interest", "interest_cents", 1),
    ("Fees", "fees_cents", 1),
    ("Charge-offs", "charge_offs_cents", -1),
    ("Recoveries", "recoveries_cents", 1),
    ("Recoveries returned", "recoveries_returned_cents", -1),
    ("Closing receivables", "closing_receivables_cents", 1),
)


def finance_months(months: Sequence[Any]) -> pd.DataFrame:
    """rpt_finance_monthly's rows of the months asked for (first days), with the sum of its
    differences with the ledger (``ledger_differences_cents``, 0 when every line ties)."""
    unique, values, params = _asked_dates(months, "m")
    if not unique:
        return pd.DataFrame()
    return query(
        f"""
        select f.*,
               abs(f.roll_forward_difference_cents) + abs(f.purchases_difference_cents)
               + abs(f.refunds_difference_cents) + abs(f.payments_difference_cents)
               + abs(f.returned_payments_difference_cents) + abs(f.interest_difference_cents)
               + abs(f.fees_difference_cents) + abs(f.charge_offs_difference_cents)
               + abs(f.recoveries_difference_cents) + abs(f.recoveries_returned_difference_cents)
               + abs(f.unmatched_ledger_cents) as ledger_differences_cents
        from (values {values}) as asked(month)
        join {MARTS}.rpt_finance_monthly f on f.period_start = asked.month
        order by f.period_start
        """,
        params,
    )


def delinquency_month_ends(months: Sequence[Any]) -> pd.DataFrame:
    """rpt_delinquency's last day in each month asked for (its end, once the month closed)."""
    unique, values, params = _asked_dates(months, "m")
    if not unique:
        return pd.DataFrame()
    return query(
        f"""
        select asked.month, d.date_day, d.current_count, d.dpd_1_29_count, d.dpd_30_59_count,
               d.dpd_60_89_count, d.dpd_90_plus_count
        from (values {values}) as asked(month)
        join lateral (
            select * from {MARTS}.rpt_delinquency
            where date_day >= asked.month and date_day < asked.month + interval '1 month'
            order by date_day desc limit 1
        ) as d on true
        order by asked.month
        """,
        params,
    )


# Freshness: each mart's latest day (from its own date column) and its size estimate.
FRESHNESS_COLUMNS = {
    "rpt_card_activity_daily": "period_start",
    "rpt_card_activity_weekly": "period_start",
    "rpt_card_activity_monthly": "period_start",
    "rpt_receivables_daily": "balance_date",
    "rpt_application_funnel": "application_date",
    "rpt_api_usage_daily": "request_date",
    "rpt_ledger_reconciliation": "movement_date",
    "rpt_payments": "payment_date",
    "rpt_delinquency": "date_day",
    "rpt_revenue_monthly": "period_start",
    "rpt_finance_monthly": "period_start",
    "dim_date": "date_day",
    "dim_accounts": "opened_date",
    "dim_customers": "signed_up_date",
    "dim_merchants": "first_seen_date",
    "fct_transactions": "created_date",
    "fct_authorizations": "authorized_date",
    "fct_payments": "created_date",
    "fct_statements": "period_end",
}


# The facts published by day (their live tables get each day's rows; pipelines/assets_publish.py).
PUBLISHED_BY_DAY = ("fct_transactions", "fct_authorizations", "fct_payments")


def freshness() -> pd.DataFrame:
    """Each mart's estimated row count and latest business day, in one query.

    The estimate is ``reltuples`` once the table has been analyzed, else (-1: the marts are
    created whole and swapped in, so a new mart has not been) the statistics' live row count,
    ``pg_stat_get_live_tuples`` (what ``pg_stat_user_tables.n_live_tup`` reads, without that
    view's twenty other counters for every table): as exact as it gets without reading the table.
    The latest day: the report tables' and dimensions' ``max()`` of their column (small tables);
    for the big facts, published by day (pipelines/assets_publish.py), the latest day published,
    read from the registry, since their ``max()`` read them whole (no index on the day) on every
    render of the page (issue 24). An empty fact has no latest day, whatever was published.
    """
    readable = existing_marts()
    parts = [
        f"select '{mart}' as mart, "
        + (
            "(select max(day) from reporting.published_days)"
            if mart in PUBLISHED_BY_DAY
            else f"(select max({column}) from {MARTS}.{mart})"
        )
        + " as latest_day"
        for mart, column in FRESHNESS_COLUMNS.items()
        if mart in readable
    ]
    latest = " union all ".join(parts) if parts else "select null::text as mart, null::date as latest_day"
    published = ", ".join(f"'{mart}'" for mart in PUBLISHED_BY_DAY)
    return query(
        f"""
        with sizes as (
            select c.relname as mart,
                   case when c.reltuples >= 0 then c.reltuples::bigint
                        else pg_stat_get_live_tuples(c.oid) end as estimated_rows
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = :schema and c.relkind in ('r', 'v', 'm')
        )
        select s.mart, s.estimated_rows,
               case when s.mart in ({published}) and s.estimated_rows <= 0 then null
                    else l.latest_day end as latest_day
        from sizes s left join ({latest}) as l on l.mart = s.mart
        order by 1
        """,
        (("schema", MARTS),),
    )


# Report files (reporting.report_files) ------------------------------------------------------


def report_files(period: str | None = None, period_start: Any = None) -> pd.DataFrame:
    return query(
        """
        select id, name, period, period_start, format, path, size_bytes, sha256, created_at
        from reporting.report_files
        where (cast(:period as text) is null or period = :period)
          and (cast(:start as date) is null or period_start = :start)
        order by period_start desc, name, format
        """,
        (("period", period), ("start", period_start)),
    )


# Data quality: Great Expectations results and Dagster runs, outside the marts ------------


def docs_url() -> str:
    """Where ``cardportal up`` serves dbt's docs and the Data Docs (``cardportal/docs.py``)."""
    explicit = os.environ.get("CARDPORTAL_DOCS_URL")
    if explicit:
        return explicit.rstrip("/")
    return f"http://localhost:{os.environ.get('DOCS_PORT', '8503')}"


def latest_dbt_tests() -> pd.DataFrame:
    """The data and unit tests of the latest recorded dbt build (reporting.dbt_test_results):
    one row per test, failures first; empty before the first build."""
    return query(
        """
        select test_name, kind, model, status, failures, message, executed_at, run_id
        from reporting.dbt_test_results
        where run_id = (select run_id from reporting.dbt_test_results order by recorded_at desc limit 1)
        order by status = 'pass', model nulls last, test_name
        """
    )


def latest_ge_results() -> tuple[str, list[dict[str, Any]]] | None:
    """The newest Great Expectations checkpoint result written by the pipelines: (file, per-suite rows)."""
    folder = config().home / "gx" / "results"
    files = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    if not files:
        return None
    described = json.loads(files[-1].read_text())
    rows = []
    for result in described.get("validation_results", []):
        statistics = result.get("statistics", {})
        rows.append(
            {
                "suite": result.get("suite_name") or result.get("expectation_suite_name"),
                "table": (result.get("asset_name") or "").split(".")[-1] or result.get("asset_name"),
                "success": bool(result.get("success")),
                "evaluated": statistics.get("evaluated_expectations"),
                "failed": statistics.get("unsuccessful_expectations"),
            }
        )
    return files[-1].stem, rows


@st.cache_data(ttl=30, show_spinner=False)
def latest_alerts(limit: int = 10) -> list[dict[str, Any]]:
    """The newest alerts of the sandbox outbox (``CARDPORTAL_HOME/outbox/alerts.jsonl``), newest first."""
    from cardportal.notify import read_outbox

    return [
        {
            "sent_at": alert.get("sent_at"),
            "subject": alert.get("subject"),
            "kind": (alert.get("details") or {}).get("kind"),
            "run_id": (alert.get("details") or {}).get("run_id"),
        }
        for alert in read_outbox(config().home, limit=limit)
    ]


# A Dagster storage that failed is not asked again for this long (each try of a dead server or
# database costs a connection attempt, and a render waits for it).
DAGSTER_RETRY_SECONDS = 30.0


class DagsterStorage:
    """Dagster's run storage as the dashboards' login: one small pool for the process, and the
    last failure remembered for :data:`DAGSTER_RETRY_SECONDS` (a page does not retry a dead
    storage on every render; it says why it shows no runs, and when it will look again)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(
            with_driver(url, "psycopg"),
            pool_size=1,
            max_overflow=1,
            pool_recycle=1800,
            connect_args={**reader_connect_args(), "connect_timeout": 3},
        )
        ping_when_idle(self.engine)
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._problem = ""

    def problem(self) -> str | None:
        """Why the last read failed, while that failure is remembered; None otherwise."""
        with self._lock:
            if self._failed_at is None or time.monotonic() - self._failed_at >= DAGSTER_RETRY_SECONDS:
                return None
            return self._problem

    def runs(self, limit: int) -> pd.DataFrame | None:
        """The last ``limit`` runs, or None when the storage is not readable (now or just before)."""
        if self.problem() is not None:
            return None
        try:
            with self.engine.connect() as conn:
                frame = pd.read_sql_query(
                    sa.text(
                        "select run_id, pipeline_name as job, status, create_timestamp as created, "
                        "update_timestamp as updated from runs order by create_timestamp desc limit :limit"
                    ),
                    conn,
                    params={"limit": limit},
                )
        except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
            # No server, no table yet, or not granted yet (Dagster makes `runs` as it first starts;
            # the platform grants the dashboards' login its columns then): pandas wraps the last two.
            cause = getattr(exc, "orig", None) or exc.__cause__ or exc
            with self._lock:
                self._failed_at = time.monotonic()
                self._problem = " ".join(str(cause).split())[:300] or type(cause).__name__
            return None
        with self._lock:
            self._failed_at = None
        return frame


@st.cache_resource(show_spinner=False)
def dagster_storage(url: str) -> DagsterStorage:
    return DagsterStorage(url)


def dagster_problem() -> str | None:
    """Why Dagster's storage is not readable (its last failure, while remembered), else None."""
    url = config().dagster_url
    if not url:
        return "no storage configured (DASHBOARDS_DAGSTER_URL)"
    return dagster_storage(url).problem()


@st.cache_data(ttl=60, show_spinner=False)
def dagster_runs(limit: int = 15) -> pd.DataFrame | None:
    """The last Dagster runs from its storage database, as the dashboards' login (a few columns
    of ``runs``, read-only), or None when it is not readable (:func:`dagster_problem` says why)."""
    url = config().dagster_url
    if not url:
        return None
    return dagster_storage(url).runs(limit)
