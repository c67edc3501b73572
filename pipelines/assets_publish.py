"""Publish: swap the checked marts into schema ``marts`` in one transaction.

Runs only when every blocking check on the marts passed (write-audit-publish):
dashboards and report files read ``marts`` and never see unchecked rows. The
swap renames schemas, so readers see the old marts or the new ones, never a mix.
"""

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, asset

from cardportal.warehouse import READER_ROLE
from pipelines.partitions import daily_partitions
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
    "rpt_finance_monthly",
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
)
def published_marts(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult[None]:
    with platform.warehouse() as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(7423014)")
        staged = conn.execute("select to_regnamespace('marts_staging') is not null").fetchone()
        if not staged or not staged[0]:
            raise RuntimeError("marts_staging is missing: build the dbt marts before publishing")
        conn.execute("drop schema if exists marts cascade")
        conn.execute("alter schema marts_staging rename to marts")
        conn.execute(f"grant usage on schema marts to {READER_ROLE}")
        conn.execute(f"grant select on all tables in schema marts to {READER_ROLE}")
        counts: dict[str, int] = {}
        for table in MART_TABLES:
            row = conn.execute(f"select count(*) from marts.{table}").fetchone()
            counts[table] = int(str(row[0])) if row else 0
    context.log.info(f"published {len(counts)} marts")
    return MaterializeResult(metadata={f"rows_{table}": count for table, count in counts.items()})
