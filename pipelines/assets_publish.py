"""Publish: the checked marts into schema ``marts``, in one transaction (write-audit-publish).

Runs only when every blocking check on the marts passed: dashboards and report
files read ``marts`` and never see unchecked rows.

- The big facts (``INCREMENTAL_FACTS``: transactions, authorizations, payments) are
  incremental by day in ``marts_staging`` (dbt ``delete+insert``): each run rebuilds the
  keys extracted on its days. Publish copies the same keys into the live tables:
  ``delete`` of those keys, then ``insert`` of their checked rows. A live table that is
  missing, or whose columns differ from the staged one (a changed model), is replaced whole.
- The small report tables and dimensions are rebuilt whole by each run and moved into
  ``marts`` (``alter table … set schema``), replacing the old ones.

Both happen in one transaction, so readers see the marts before the run or after it,
never a mix. The days published are every day staged since the last publish
(``marts_staging.cardportal_pending_days``: a run whose checks failed leaves its days
there for the next run to publish with its own) and are recorded in
``reporting.published_days``; the weekly and monthly reports wait for all of theirs.
Publishing refuses a ``marts_staging`` that another run built (its stamp,
:func:`pipelines.assets_dbt.stamp_marts_build`): the pool (:mod:`pipelines.pools`) keeps runs
from sharing it, and a run that bypassed the queue fails here rather than publish a build it
did not check.
"""

from datetime import date
from typing import Any

import psycopg
from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Failure, MaterializeResult, asset
from psycopg import sql

from cardportal.warehouse import READER_ROLE
from pipelines.assets_dbt import BUILD_STAMP, PENDING_DAYS, dbt_manifest, mart_models
from pipelines.assets_dbt import INCREMENTAL_FACTS as INCREMENTAL_FACT_TABLES
from pipelines.partitions import daily_partitions
from pipelines.pools import MARTS_POOL
from pipelines.resources import PlatformResource

# fact -> (key column, the keys a run's days touched, as dbt's incremental filter selects them)
INCREMENTAL_FACTS: dict[str, tuple[str, str]] = {
    "fct_transactions": (
        "transaction_id",
        "select id from raw.transactions where _partition_date = any(%(days)s)",
    ),
    "fct_authorizations": (
        "authorization_id",
        "select id from raw.transactions where _partition_date = any(%(days)s)",
    ),
    "fct_payments": (
        "payment_id",
        "select id from raw.payments where _partition_date = any(%(days)s) union "
        "select payment_id from raw.payment_postings where _partition_date = any(%(days)s)",
    ),
}

if tuple(sorted(INCREMENTAL_FACTS)) != INCREMENTAL_FACT_TABLES:
    raise RuntimeError(
        f"the incremental marts are {INCREMENTAL_FACT_TABLES} in dbt, {tuple(sorted(INCREMENTAL_FACTS))} "
        "here: name each one's key and touched keys in INCREMENTAL_FACTS"
    )

# The report tables and dimensions: the marts dbt rebuilds whole (materialized ``table``).
SWAPPED_TABLES = tuple(
    name for name, node in mart_models(dbt_manifest()).items() if node["config"]["materialized"] == "table"
)
_UNPUBLISHABLE = set(mart_models(dbt_manifest())) - {*INCREMENTAL_FACTS, *SWAPPED_TABLES}
if _UNPUBLISHABLE:
    raise RuntimeError(f"marts neither incremental nor tables cannot be published: {sorted(_UNPUBLISHABLE)}")

MART_TABLES = (*INCREMENTAL_FACTS, *SWAPPED_TABLES)


class StaleBuild(RuntimeError):
    """marts_staging holds no build of this run (another run's, or none): nothing is published."""


def _columns(conn: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            "select attname, format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = to_regclass(%s) and attnum > 0 and not attisdropped order by attnum",
            (f"{schema}.{table}",),
        )
    ]


def publish_marts(
    conn: psycopg.Connection[Any], run_id: str, *, swapped: tuple[str, ...] = SWAPPED_TABLES
) -> tuple[list[date], dict[str, int]]:
    """Publish the staged build of ``run_id`` (in the caller's transaction): the days published,
    and the rows each mart holds now. ``swapped``: the whole tables to move (all of them in the
    daily job; a test of the facts alone builds none)."""
    conn.execute("select pg_advisory_xact_lock(7423014)")
    stamped = conn.execute(f"select to_regclass('{BUILD_STAMP}') is not null").fetchone()
    builder = (
        conn.execute(f"select run_id, full_build from {BUILD_STAMP}").fetchone()
        if stamped and stamped[0]
        else None
    )
    if builder is None or builder[0] != run_id:
        raise StaleBuild(
            f"marts_staging was built by run {builder[0] if builder else 'unknown'}, not this one "
            f"({run_id}): two runs raced for it; nothing was published"
        )
    full_build = bool(builder[1])
    days = [r[0] for r in conn.execute(f"select day from {PENDING_DAYS} order by day")]
    for table in swapped:
        conn.execute(sql.SQL("drop table if exists marts.{}").format(sql.Identifier(table)))
        conn.execute(sql.SQL("alter table marts_staging.{} set schema marts").format(sql.Identifier(table)))
    for table, (key, touched) in INCREMENTAL_FACTS.items():
        live = sql.Identifier("marts", table)
        staged = sql.Identifier("marts_staging", table)
        if full_build or _columns(conn, "marts", table) != _columns(conn, "marts_staging", table):
            conn.execute(sql.SQL("drop table if exists {}").format(live))
            conn.execute(sql.SQL("create table {} as table {}").format(live, staged))
            continue
        keys = sql.SQL(touched)
        conn.execute(
            sql.SQL("delete from {} where {} in ({})").format(live, sql.Identifier(key), keys), {"days": days}
        )
        conn.execute(
            sql.SQL("insert into {} select * from {} where {} in ({})").format(
                live, staged, sql.Identifier(key), keys
            ),
            {"days": days},
        )
    conn.execute(f"grant usage on schema marts to {READER_ROLE}")
    conn.execute(f"grant select on all tables in schema marts to {READER_ROLE}")
    counts: dict[str, int] = {}
    for table in (*INCREMENTAL_FACTS, *swapped):
        row = conn.execute(sql.SQL("select count(*) from marts.{}").format(sql.Identifier(table))).fetchone()
        counts[table] = int(str(row[0])) if row else 0
    with conn.cursor() as cursor:
        cursor.executemany(
            "insert into reporting.published_days (day, run_id) values (%s, %s) "
            "on conflict (day) do update set run_id = excluded.run_id, published_at = now()",
            [(day, run_id) for day in days],
        )
    conn.execute(f"truncate {PENDING_DAYS}")
    conn.execute(f"delete from {BUILD_STAMP}")
    return days, counts


@asset(
    key="published_marts",
    deps=[AssetKey(["marts", table]) for table in MART_TABLES],
    description=(
        "Schema `marts`: the checked marts, published from `marts_staging` after the checks passed "
        "(the big facts by day, delete+insert; the report tables swapped whole)."
    ),
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="marts",
    owners=["team:data-platform"],
    kinds={"postgres"},
    pool=MARTS_POOL,
)
def published_marts(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult[None]:
    try:
        with platform.warehouse() as conn, conn.transaction():
            days, counts = publish_marts(conn, context.run.run_id)
    except StaleBuild as error:
        raise Failure(description=str(error), allow_retries=False) from error
    context.log.info(f"published {len(counts)} marts for {len(days)} day(s)")
    return MaterializeResult(
        metadata={"days": len(days), **{f"rows_{table}": count for table, count in counts.items()}}
    )
