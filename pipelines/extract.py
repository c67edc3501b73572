"""Extracts: the operational slice of one business day into ``warehouse.raw``.

Each :class:`ExtractSpec` names a raw table, the ``select`` that reads the
day's slice from the operational database, the raw table's columns, and how
Polars shapes the rows on the way (PII minimised: customer keys are salted
hashes, ages are bands, no names, emails or card numbers ever leave).

The slice of a day is every row *touched* that day (created, decided, cleared,
reversed, closed): a row changed on a later day is extracted again in that
day's slice, and staging keeps each id's latest version. Loading replaces
exactly the day's slice in one transaction (``delete`` + ``COPY … FROM
STDIN``), so a re-run, or a run after a crash mid-load, leaves one whole slice.

New operational tables (statements, payments, billing runs) slot in as one
more spec here and one staging model in dbt.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from pipelines.resources import PlatformResource

Shaper = Callable[[pl.DataFrame, PlatformResource], pl.DataFrame]


@dataclass(frozen=True)
class ExtractSpec:
    table: str
    description: str
    query: str  # {start}, {end} (timestamptz) and {day} (date) are bound as literals
    columns: tuple[tuple[str, str], ...]  # the raw table's columns and types, in order
    shape: Shaper | None = None

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


@dataclass(frozen=True)
class ExtractResult:
    rows: int
    seconds: float


def _hash_user(df: pl.DataFrame, platform: PlatformResource, *, source: str = "user_id") -> pl.DataFrame:
    users = df.get_column(source).unique().drop_nulls().to_list()
    mapping = {user: platform.customer_key(user) for user in users}
    return df.with_columns(pl.col(source).replace_strict(mapping, default=None).alias("customer_key"))


_AGE_BANDS = ["under_18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+"]


def _age_band(df: pl.DataFrame, *, source: str = "age_years", target: str = "age_band") -> pl.DataFrame:
    years = pl.col(source).cast(pl.Int32)
    band: Any = pl.when(years.is_null()).then(pl.lit(None, dtype=pl.String))
    for upper, label in zip((18, 25, 35, 45, 55, 65), _AGE_BANDS, strict=False):
        band = band.when(years < upper).then(pl.lit(label))
    return df.with_columns(band.otherwise(pl.lit(_AGE_BANDS[-1])).alias(target))


def _shape_customers(df: pl.DataFrame, platform: PlatformResource) -> pl.DataFrame:
    return _age_band(_hash_user(df, platform))


def _shape_applications(df: pl.DataFrame, platform: PlatformResource) -> pl.DataFrame:
    return _age_band(_hash_user(df, platform), target="applicant_age_band")


def _shape_owned(df: pl.DataFrame, platform: PlatformResource) -> pl.DataFrame:
    return _hash_user(df, platform)


def _touched(*columns: str) -> str:
    return " or ".join(f"({c} >= {{start}} and {c} < {{end}})" for c in columns)


# Transactions touched on a day: created that day, or resolved that day (cleared, reversed,
# expired: the resolving transfer's day). Two index-driven branches (transactions by
# created_at; ledger transfers by created_at, then transactions by posting_transfer_id)
# rather than an OR across the join, which no index serves and which scans every
# transaction for every day's slice.
_TRANSACTION_COLUMNS = """
    t.id, t.account_id, t.card_id, t.type, t.status, t.amount, t.authorized_amount,
    t.currency, t.merchant_name, t.merchant_mcc, t.merchant_country, t.decline_code,
    t.closed_reason, t.original_transaction_id, t.refunded_amount,
    t.hold_transfer_id, t.posting_transfer_id, t.created_at, t.posted_at,
    r.created_at as resolved_at
"""

SPECS: tuple[ExtractSpec, ...] = (
    ExtractSpec(
        table="customers",
        description="Customers, minimised: a salted key, sign-up time and age band; no name or email.",
        query="""
            select u.id as user_id, u.created_at as signed_up_at,
                   extract(year from age({day}, latest.date_of_birth))::int as age_years
            from users u
            left join lateral (
                select a.date_of_birth from applications a
                where a.user_id = u.id and a.created_at < {end}
                order by a.created_at desc, a.id desc limit 1
            ) latest on true
            where u.role = 'customer'
              and ((u.created_at >= {start} and u.created_at < {end})
                   or exists (select 1 from applications a where a.user_id = u.id
                              and a.created_at >= {start} and a.created_at < {end}))
        """,
        columns=(("customer_key", "text"), ("signed_up_at", "timestamptz"), ("age_band", "text")),
        shape=_shape_customers,
    ),
    ExtractSpec(
        table="applications",
        description="Credit applications and their decisions; age band instead of the birth date.",
        query=f"""
            select id, user_id, status, employment_status,
                   extract(year from age(created_at::date, date_of_birth))::int as age_years,
                   requested_credit_limit, credit_score, dti_bps, credit_limit, apr_bps, reasons,
                   account_id, decided_at, created_at
            from applications where {_touched("created_at", "decided_at")}
        """,
        columns=(
            ("id", "text"),
            ("customer_key", "text"),
            ("status", "text"),
            ("employment_status", "text"),
            ("applicant_age_band", "text"),
            ("requested_credit_limit", "bigint"),
            ("credit_score", "integer"),
            ("dti_bps", "bigint"),
            ("credit_limit", "bigint"),
            ("apr_bps", "bigint"),
            ("reasons", "text[]"),
            ("account_id", "text"),
            ("decided_at", "timestamptz"),
            ("created_at", "timestamptz"),
        ),
        shape=_shape_applications,
    ),
    ExtractSpec(
        table="accounts",
        description="Card accounts: limit, APR, cycle day, status.",
        query=f"""
            select id, user_id, application_id, status, credit_limit, apr_bps, currency,
                   billing_cycle_day, opened_at, closed_at, created_at
            from accounts where {_touched("created_at", "closed_at")}
        """,
        columns=(
            ("id", "text"),
            ("customer_key", "text"),
            ("application_id", "text"),
            ("status", "text"),
            ("credit_limit", "bigint"),
            ("apr_bps", "bigint"),
            ("currency", "text"),
            ("billing_cycle_day", "integer"),
            ("opened_at", "timestamptz"),
            ("closed_at", "timestamptz"),
            ("created_at", "timestamptz"),
        ),
        shape=_shape_owned,
    ),
    ExtractSpec(
        table="cards",
        description="Cards without any card number (not even the last four digits).",
        query=f"""
            select id, account_id, user_id, exp_month, exp_year, status,
                   controls <> '{{{{}}}}'::jsonb as has_spending_controls, created_at
            from cards where {_touched("created_at")}
        """,
        columns=(
            ("id", "text"),
            ("account_id", "text"),
            ("customer_key", "text"),
            ("exp_month", "smallint"),
            ("exp_year", "smallint"),
            ("status", "text"),
            ("has_spending_controls", "boolean"),
            ("created_at", "timestamptz"),
        ),
        shape=_shape_owned,
    ),
    ExtractSpec(
        table="transactions",
        description="Card transactions, declined authorizations included; resolved_at from the ledger.",
        query=f"""
            select {_TRANSACTION_COLUMNS}
            from transactions t
            left join ledger_transfers r on r.id = t.posting_transfer_id
            where {_touched("t.created_at")}
            union all
            select {_TRANSACTION_COLUMNS}
            from ledger_transfers r
            join transactions t on t.posting_transfer_id = r.id
            where {_touched("r.created_at")} and not ({_touched("t.created_at")})
        """,
        columns=(
            ("id", "text"),
            ("account_id", "text"),
            ("card_id", "text"),
            ("type", "text"),
            ("status", "text"),
            ("amount", "bigint"),
            ("authorized_amount", "bigint"),
            ("currency", "text"),
            ("merchant_name", "text"),
            ("merchant_mcc", "text"),
            ("merchant_country", "text"),
            ("decline_code", "text"),
            ("closed_reason", "text"),
            ("original_transaction_id", "text"),
            ("refunded_amount", "bigint"),
            ("hold_transfer_id", "text"),
            ("posting_transfer_id", "text"),
            ("created_at", "timestamptz"),
            ("posted_at", "timestamptz"),
            ("resolved_at", "timestamptz"),
        ),
    ),
    ExtractSpec(
        table="ledger_accounts",
        description="The ledger's accounts (customer receivables and sharded house accounts).",
        query=f"select id, currency, created_at from ledger_accounts where {_touched('created_at')}",
        columns=(("id", "text"), ("currency", "text"), ("created_at", "timestamptz")),
    ),
    ExtractSpec(
        table="ledger_transfers",
        description="The ledger's transfers (holds, postings, voids, credits, charges).",
        query=f"""
            select id, kind, state, debit_account_id, credit_account_id, amount, currency,
                   pending_id, reference, created_at
            from ledger_transfers where {_touched("created_at")}
        """,
        columns=(
            ("id", "text"),
            ("kind", "text"),
            ("state", "text"),
            ("debit_account_id", "text"),
            ("credit_account_id", "text"),
            ("amount", "bigint"),
            ("currency", "text"),
            ("pending_id", "text"),
            ("reference", "text"),
            ("created_at", "timestamptz"),
        ),
    ),
    ExtractSpec(
        table="ledger_entries",
        description="The ledger's entries, debit-positive, in the pending and posted layers.",
        query=f"""
            select id, transfer_id, ledger_account_id, amount, layer, created_at
            from ledger_entries where {_touched("created_at")}
        """,
        columns=(
            ("id", "bigint"),
            ("transfer_id", "text"),
            ("ledger_account_id", "text"),
            ("amount", "bigint"),
            ("layer", "text"),
            ("created_at", "timestamptz"),
        ),
    ),
)


def _shape_audit_events(df: pl.DataFrame, platform: PlatformResource) -> pl.DataFrame:
    """Actors by salted key (people only: ``network``/``system`` stay as they are); no IP, no target."""
    users = [u for u in df.get_column("actor_id").unique().drop_nulls().to_list() if u.startswith("usr_")]
    mapping = {user: platform.customer_key(user) for user in users}
    return df.with_columns(
        pl.col("actor_id").replace_strict(mapping, default=pl.col("actor_id")).alias("actor_key")
    )


# Billing and payments (issue 6 and 7): statements, payments, their returns, exceptions, runs.
SPECS = (
    *SPECS,
    ExtractSpec(
        table="statements",
        description="Closed billing cycles with every figure the customer is shown; late fees once charged.",
        query="""
            select id, account_id, currency, period_start, period_end, due_date, opening_balance,
                   purchases, refunds, payments, returned_payments, interest, fees, closing_balance,
                   past_due_amount, minimum_payment, apr_bps, credit_limit, days_in_period,
                   average_daily_balance, grace_period_applied, late_fee_transaction_id,
                   late_fee_amount, created_at
            from statements
            where (created_at >= {start} and created_at < {end})
               or late_fee_transaction_id in (
                   select id from transactions
                   where type = 'fee' and posted_at >= {start} and posted_at < {end}
               )
        """,
        columns=(
            ("id", "text"),
            ("account_id", "text"),
            ("currency", "text"),
            ("period_start", "date"),
            ("period_end", "date"),
            ("due_date", "date"),
            ("opening_balance", "bigint"),
            ("purchases", "bigint"),
            ("refunds", "bigint"),
            ("payments", "bigint"),
            ("returned_payments", "bigint"),
            ("interest", "bigint"),
            ("fees", "bigint"),
            ("closing_balance", "bigint"),
            ("past_due_amount", "bigint"),
            ("minimum_payment", "bigint"),
            ("apr_bps", "bigint"),
            ("credit_limit", "bigint"),
            ("days_in_period", "integer"),
            ("average_daily_balance", "bigint"),
            ("grace_period_applied", "boolean"),
            ("late_fee_transaction_id", "text"),
            ("late_fee_amount", "bigint"),
            ("created_at", "timestamptz"),
        ),
    ),
    ExtractSpec(
        table="payments",
        description=(
            "Payments towards card accounts (customer or autopay), their outcome and what was returned; "
            "no Stripe customer, payment method or idempotency key, no failure message."
        ),
        query=f"""
            select id, account_id, user_id, initiated_by, request_id, amount, currency, status,
                   failure_code, returned_amount, transaction_id, created_at, updated_at, succeeded_at
            from payments where {_touched("created_at", "updated_at", "succeeded_at")}
        """,
        columns=(
            ("id", "text"),
            ("account_id", "text"),
            ("customer_key", "text"),
            ("initiated_by", "text"),
            ("request_id", "text"),
            ("amount", "bigint"),
            ("currency", "text"),
            ("status", "text"),
            ("failure_code", "text"),
            ("returned_amount", "bigint"),
            ("transaction_id", "text"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
            ("succeeded_at", "timestamptz"),
        ),
        shape=_shape_owned,
    ),
    ExtractSpec(
        table="payment_postings",
        description="Each ledger movement Stripe caused: the payment, its refunds and disputes, the fee.",
        query=f"""
            select id, payment_id, kind, amount, ledger_transfer_id, created_at
            from payment_postings where {_touched("created_at")}
        """,
        columns=(
            ("id", "bigint"),
            ("payment_id", "text"),
            ("kind", "text"),
            ("amount", "bigint"),
            ("ledger_transfer_id", "text"),
            ("created_at", "timestamptz"),
        ),
    ),
    ExtractSpec(
        table="payment_exceptions",
        description="Mismatches the payments reconciliation found between Stripe, payments and the ledger.",
        query=f"""
            select id, business_date, payment_id, kind, expected, actual, created_at
            from payment_exceptions where {_touched("created_at")}
        """,
        columns=(
            ("id", "text"),
            ("business_date", "date"),
            ("payment_id", "text"),
            ("kind", "text"),
            ("expected", "text"),
            ("actual", "text"),
            ("created_at", "timestamptz"),
        ),
    ),
    ExtractSpec(
        table="autopay_settings",
        description="Each account's autopay: on or off and which amount (no payment method).",
        query=f"""
            select account_id, enabled, amount, created_at, updated_at
            from autopay_settings where {_touched("created_at", "updated_at")}
        """,
        columns=(
            ("account_id", "text"),
            ("enabled", "boolean"),
            ("amount", "text"),
            ("created_at", "timestamptz"),
            ("updated_at", "timestamptz"),
        ),
    ),
    ExtractSpec(
        table="charge_offs",
        description="Accounts written off at 180 days past due: the day, the amount and its ledger transfer.",
        query="""
            select account_id, charged_off_on, charged_off_amount, charge_off_transfer_id
            from account_billing where charged_off_on = {day}
        """,
        columns=(
            ("account_id", "text"),
            ("charged_off_on", "date"),
            ("charged_off_amount", "bigint"),
            ("charge_off_transfer_id", "text"),
        ),
    ),
    ExtractSpec(
        table="billing_runs",
        description="The daily job's runs (one per business day) and what each did.",
        query=f"""
            select id, day, started_at, finished_at, counts::text as counts, created_at,
                   delinquency_recorded
            from billing_runs where day = {{day}} or {_touched("started_at", "finished_at")}
        """,
        columns=(
            ("id", "text"),
            ("day", "date"),
            ("started_at", "timestamptz"),
            ("finished_at", "timestamptz"),
            ("counts", "jsonb"),
            ("created_at", "timestamptz"),
            ("delinquency_recorded", "boolean"),
        ),
    ),
    ExtractSpec(
        table="delinquency_days",
        description=(
            "The daily job's record of each delinquent account's days past due, past-due amount and "
            "bucket at the day's end (current accounts have no row)."
        ),
        # A day's rows are written (and replaced, when the day is run again) by that day's run:
        # the slice of a day is its record, whole.
        query="""
            select account_id, day, days_past_due, past_due_amount, bucket
            from delinquency_days where day = {day}
        """,
        columns=(
            ("account_id", "text"),
            ("day", "date"),
            ("days_past_due", "integer"),
            ("past_due_amount", "bigint"),
            ("bucket", "text"),
        ),
    ),
    ExtractSpec(
        table="audit_events",
        description=(
            "The audit trail, minimised: event type, the actor's role and salted key, request id and time; "
            "no IP address, target (it may be an email) or detail."
        ),
        query=f"""
            select e.id, e.action, e.actor_id,
                   case when e.actor_id in ('network', 'system') then e.actor_id
                        when e.actor_id is null then 'anonymous' else u.role end as actor_role,
                   e.request_id, e.created_at
            from audit_events e left join users u on u.id = e.actor_id
            where {_touched("e.created_at")}
        """,
        columns=(
            ("id", "text"),
            ("action", "text"),
            ("actor_role", "text"),
            ("actor_key", "text"),
            ("request_id", "text"),
            ("created_at", "timestamptz"),
        ),
        shape=_shape_audit_events,
    ),
)

SPECS_BY_TABLE = {spec.table: spec for spec in SPECS}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, dtime(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _ensure_table(conn: psycopg.Connection[Any], table: str, columns: tuple[tuple[str, str], ...]) -> None:
    cols = ", ".join(f"{name} {kind}" for name, kind in columns)
    conn.execute(f"create table if not exists raw.{table} ({cols}, _partition_date date not null)")
    # A column added to a spec later (statements.returned_payments, issue 20) reaches a warehouse
    # made before it; older rows read null there.
    for name, kind in columns:
        conn.execute(f"alter table raw.{table} add column if not exists {name} {kind}")
    conn.execute(f"create index if not exists {table}_partition_date on raw.{table} (_partition_date)")


def read_slice(conn: psycopg.Connection[Any], spec: ExtractSpec, day: date) -> pl.DataFrame:
    """``COPY (select …) TO STDOUT`` into a Polars frame of strings (no type round trip)."""
    buffer = io.BytesIO()
    with conn.cursor().copy(
        sql.SQL("copy ({}) to stdout (format csv, header)").format(_bound_query(spec, day))
    ) as copy:
        for chunk in copy:
            buffer.write(chunk)
    buffer.seek(0)
    return pl.read_csv(buffer, infer_schema=False)


def write_slice(
    conn: psycopg.Connection[Any],
    table: str,
    columns: tuple[tuple[str, str], ...],
    day: date,
    frame: pl.DataFrame,
    *,
    ensure_table: bool = True,
) -> None:
    """Replace the day's slice of ``raw.<table>`` with ``frame``, in one transaction.

    ``ensure_table=False`` when the caller created the table (and its index) already: a range
    of days does it once, not two DDL statements per day.
    """
    names = [name for name, _ in columns]
    frame = frame.select(names).with_columns(pl.lit(day.isoformat()).alias("_partition_date"))
    with conn.transaction():
        if ensure_table:
            _ensure_table(conn, table, columns)
        _replace_partition(conn, table, [*names, "_partition_date"], day, frame.write_csv().encode())


def _replace_partition(
    conn: psycopg.Connection[Any], table: str, names: list[str], day: date, csv: bytes
) -> None:
    """In the caller's transaction: the day's slice of ``raw.<table>`` deleted, then ``csv`` (with
    a header, its columns ``names``) copied in."""
    conn.execute(
        sql.SQL("delete from raw.{} where _partition_date = %s").format(sql.Identifier(table)), (day,)
    )
    copy_in = sql.SQL("copy raw.{} ({}) from stdin (format csv, header)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
    with conn.cursor().copy(copy_in) as copy:
        copy.write(csv)


def _bound_query(spec: ExtractSpec, day: date) -> sql.Composed:
    start, end = day_bounds(day)
    return sql.SQL(spec.query).format(start=sql.Literal(start), end=sql.Literal(end), day=sql.Literal(day))


def copy_slice(
    source: psycopg.Connection[Any], target: psycopg.Connection[Any], spec: ExtractSpec, day: date
) -> int:
    """A spec without shaping: the day's CSV from ``COPY`` out straight into ``COPY`` in; its rows.

    Polars has nothing to do for these (every column a string, passed through), so the
    bytes go as they come, the partition date added by the query. One transaction, as
    :func:`write_slice`.
    """
    names = [*spec.column_names, "_partition_date"]
    out = sql.SQL(
        "copy (select slice.*, {} as _partition_date from ({}) as slice) to stdout (format csv, header)"
    )
    with source.cursor().copy(out.format(sql.Literal(day), _bound_query(spec, day))) as copy:
        chunks = [bytes(chunk) for chunk in copy]
    header = chunks[0].decode().rstrip("\n").split(",") if chunks else []
    if header != names:  # the query's columns must be the raw table's, in order
        raise RuntimeError(f"extract {spec.table}: the query returns {header}, the raw table has {names}")
    with target.transaction():
        _replace_partition(target, spec.table, names, day, b"".join(chunks))
    return len(chunks) - 1


def extract_day(platform: PlatformResource, spec: ExtractSpec, day: date) -> ExtractResult:
    return extract_days(platform, spec, [day])


def extract_days(platform: PlatformResource, spec: ExtractSpec, days: list[date]) -> ExtractResult:
    """Each day's slice in its own transaction, over one connection to each database.

    The per-day overhead is kept to the slice's own statements: the raw table is ensured once
    for the range, the source reads in autocommit (each ``COPY`` is its own read-only
    transaction, no snapshot held across the range, no ``BEGIN``/``ROLLBACK`` round trips), and
    specs without shaping skip Polars (:func:`copy_slice`).
    """
    started = time.perf_counter()
    rows = 0
    with platform.operational() as source, platform.warehouse() as target:
        source.autocommit = True
        # Each day's commit need not wait for its WAL flush: the last day's commit does, and the
        # WAL is flushed in order, so once the range returns every day in it is durable. A crash
        # before that fails the run, which is re-run (each day's slice is replaced whole).
        target.execute("set synchronous_commit = off")
        target.commit()
        with target.transaction():
            _ensure_table(target, spec.table, spec.columns)
        for day in days:
            if day == days[-1]:
                target.execute("set synchronous_commit = on")
                target.commit()
            if spec.shape is None:
                rows += copy_slice(source, target, spec, day)
                continue
            frame = spec.shape(read_slice(source, spec, day), platform)
            write_slice(target, spec.table, spec.columns, day, frame, ensure_table=False)
            rows += frame.height
    return ExtractResult(rows=rows, seconds=time.perf_counter() - started)


# The request logs ---------------------------------------------------------------

API_REQUEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("line_number", "integer"),
    ("request_id", "text"),
    ("requested_at", "timestamptz"),
    ("method", "text"),
    ("route", "text"),
    ("status", "integer"),
    ("duration_ms", "double precision"),
    ("caller_key", "text"),
    ("caller_role", "text"),
    ("bytes_in", "bigint"),
    ("bytes_out", "bigint"),
    ("error_code", "text"),
)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("line_number", "integer"),
    ("reason", "text"),
    ("line_excerpt", "text"),
)


class MalformedLine(ValueError):
    pass


def _field(record: dict[str, Any], name: str, kinds: tuple[type, ...], *, required: bool) -> Any:
    value = record.get(name)
    if value is None:
        if required:
            raise MalformedLine(f"missing {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise MalformedLine(f"{name} has the wrong type")
    return value


def parse_request_line(line: str, platform: PlatformResource) -> dict[str, Any]:
    """One access-log line as a raw row; raises MalformedLine with the reason."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MalformedLine(f"invalid JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise MalformedLine("not a JSON object")
    ts = _field(record, "ts", (str,), required=True)
    try:
        requested_at = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedLine("ts is not an RFC 3339 time") from None
    if requested_at.tzinfo is None:
        raise MalformedLine("ts has no time zone")
    user_id = _field(record, "user_id", (str,), required=False)
    caller = user_id if user_id in (None, "network") else platform.customer_key(user_id)
    return {
        "request_id": _field(record, "request_id", (str,), required=True),
        "requested_at": requested_at.isoformat(),
        "method": _field(record, "method", (str,), required=True),
        "route": _field(record, "route", (str,), required=False),
        "status": _field(record, "status", (int,), required=True),
        "duration_ms": float(_field(record, "duration_ms", (int, float), required=True)),
        "caller_key": caller,
        "caller_role": _field(record, "role", (str,), required=False),
        "bytes_in": _field(record, "bytes_in", (int,), required=False),
        "bytes_out": _field(record, "bytes_out", (int,), required=False),
        "error_code": _field(record, "error_code", (str,), required=False),
    }


def _frame(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> pl.DataFrame:
    schema = {name: pl.String for name, _ in columns}
    return pl.DataFrame(
        [{k: (None if v is None else str(v)) for k, v in row.items()} for row in rows], schema=schema
    )


def extract_request_log(platform: PlatformResource, day: date) -> tuple[int, int]:
    """Load ``logs/api/<day>.jsonl`` into raw.api_requests; (rows, quarantined)."""
    path: Path = platform.log_dir / f"{day.isoformat()}.jsonl"
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    if path.exists():
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append({"line_number": number, **parse_request_line(line, platform)})
                except MalformedLine as exc:
                    # The excerpt is cut short: a broken line could hold anything.
                    bad.append({"line_number": number, "reason": str(exc), "line_excerpt": line[:200]})
    with platform.warehouse() as conn:
        write_slice(conn, "api_requests", API_REQUEST_COLUMNS, day, _frame(rows, API_REQUEST_COLUMNS))
        write_slice(conn, "api_requests_quarantine", QUARANTINE_COLUMNS, day, _frame(bad, QUARANTINE_COLUMNS))
    return len(rows), len(bad)
