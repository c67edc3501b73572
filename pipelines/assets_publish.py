"""Publish: swap the checked marts into schema ``marts`` in one transaction.

Runs only when every blocking check on the marts passed (write-audit-publish):
dashboards and report files read ``marts`` and never see unchecked rows. The
swap renames schemas, so readers see the old marts or the new ones, never a mix.

The days of the run (one, or a single-run backfill's range) are recorded in
``reporting.published_days`` in the same transaction: the weekly and monthly
reports wait for all of theirs. Publishing refuses a ``marts_staging`` that
another run built (its stamp, :func:`pipelines.assets_dbt.stamp_marts_build`):
the pool (:mod:`pipelines.pools`) keeps runs from sharing it, and a run that
bypassed the queue fails here rather than publish a build it did not check.
"""

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Failure, MaterializeResult, asset

from cardportal.warehouse import READER_ROLE
from pipelines.assets_dbt import BUILD_STAMP
from pipelines.assets_extract import partition_days
from pipelines.partitions import daily_partitions
from pipelines.pools import MARTS_POOL
from pipelines.resources import PlatformResource

MART_TABLES = (
    "fct_transactions",
    "fct_authorizations",
    "dim_accounts",
    "dim_customers",
    "dim_date",
    "dim_merchants",
    "rpt_card_activity_daily",
    "rpt_card_activity_weekly",
    "rpt_card_activity_monthly",
    "rpt_receivables_daily",
    "rpt_application_funnel",
    "rpt_api_usage_daily",
    "rpt_ledger_reconciliation",
    "fct_payments",
    "fct_statements",
    "rpt_delinquency",
    "rpt_payments",
    "rpt_revenue_monthly",
)


@asset(
    key="published_marts",
    deps=[AssetKey(["marts", table]) for table in MART_TABLES],
    description="Schema `marts`: the checked marts, swapped in from `marts_staging` after the checks passed.",
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="marts",
    owners=["team:data-platform"],
    kinds={"postgres"},
    pool=MARTS_POOL,
)
def published_marts(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult[None]:
    days = partition_days(context)
    with platform.warehouse() as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(7423014)")
        staged = conn.execute("select to_regnamespace('marts_staging') is not null").fetchone()
        if not staged or not staged[0]:
            raise RuntimeError("marts_staging is missing: build the dbt marts before publishing")
        stamped = conn.execute(f"select to_regclass('{BUILD_STAMP}') is not null").fetchone()
        builder = (
            conn.execute(f"select run_id from {BUILD_STAMP}").fetchone() if stamped and stamped[0] else None
        )
        if builder is None or builder[0] != context.run.run_id:
            raise Failure(
                description=(
                    f"marts_staging was built by run {builder[0] if builder else 'unknown'}, not this one "
                    f"({context.run.run_id}): two runs raced for it; nothing was published"
                ),
                allow_retries=False,
            )
        conn.execute(f"drop table {BUILD_STAMP}")
        conn.execute("drop schema if exists marts cascade")
        conn.execute("alter schema marts_staging rename to marts")
        conn.execute(f"grant usage on schema marts to {READER_ROLE}")
        conn.execute(f"grant select on all tables in schema marts to {READER_ROLE}")
        counts: dict[str, int] = {}
        for table in MART_TABLES:
            row = conn.execute(f"select count(*) from marts.{table}").fetchone()
            counts[table] = int(str(row[0])) if row else 0
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into reporting.published_days (day, run_id) values (%s, %s) "
                "on conflict (day) do update set run_id = excluded.run_id, published_at = now()",
                [(day, context.run.run_id) for day in days],
            )
    context.log.info(f"published {len(counts)} marts")
    return MaterializeResult(metadata={f"rows_{table}": count for table, count in counts.items()})
