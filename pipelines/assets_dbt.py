"""The dbt project as assets: staging, intermediate and marts (built into marts_staging), and the snapshot.

- ``cardportal_dbt_assets``: every model, seed and test, partitioned by business day (a
  single-run backfill builds a range once), run with ``--vars {min_date, max_date}``: the big
  facts (``fct_transactions``, ``fct_authorizations``, ``fct_payments``, and
  ``int_ledger_movements_daily``) are incremental by day (``delete+insert`` of the keys touched
  on the run's days), everything else is rebuilt whole. Pool ``warehouse_marts``
  (:mod:`pipelines.pools`): one run at a time builds ``marts_staging``. Before a build that
  reaches the marts, the run's days join ``marts_staging.cardportal_pending_days`` (the days
  staged but not yet published) and the build is marked full when a fact is missing (a first
  build); after it, ``marts_staging.cardportal_build`` names the run, which publish checks.
- ``cardportal_dbt_snapshots``: ``snp_accounts``, unpartitioned, on its own cadence
  (``snapshot_job``: a schedule in production, the sandbox sensor after each range of days). A
  snapshot records the state it finds when it runs, so it is no step of a day's partition: a
  backfill of old days would record today's state under them.
"""

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    BackfillPolicy,
    Backoff,
    Failure,
    Jitter,
    RetryPolicy,
)
from dagster_dbt import (
    DagsterDbtCliRuntimeError,
    DagsterDbtTranslator,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from cardportal.database import libpq_conninfo, parse_url
from pipelines import dbt_results
from pipelines.dbt_metadata import with_table_metadata
from pipelines.partitions import daily_partitions
from pipelines.pools import MARTS_POOL
from pipelines.resources import PlatformResource

DBT_DIR = Path(__file__).resolve().parent.parent / "dbt"
dbt_project = DbtProject(project_dir=DBT_DIR, profiles_dir=DBT_DIR)


class CardportalTranslator(DagsterDbtTranslator):
    """Groups by dbt folder (staging, intermediate, marts); one owner."""

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] == "source":
            return spec
        fqn = props.get("fqn", [])
        if props["resource_type"] == "snapshot":
            group = "snapshots"
        else:
            group = fqn[1] if props["resource_type"] == "model" and len(fqn) > 2 else "staging"
        # Keys name the schema readers find the table in: marts are published from marts_staging.
        key = AssetKey([group, props["name"]])
        return spec.replace_attributes(key=key, group_name=group, owners=["team:data-platform"])


def dbt_environment(warehouse_url: str) -> dict[str, str]:
    """profiles.yml reads DBT_PG_*: the warehouse's host (or socket folder), port, user, database."""
    url = parse_url(warehouse_url)
    host = url.host or str(url.query.get("host") or "localhost")
    return {
        "DBT_PG_HOST": host,
        "DBT_PG_PORT": str(url.port or 5432),
        "DBT_PG_USER": url.username or "postgres",
        "DBT_PG_PASSWORD": url.password or "",
        "DBT_PG_DBNAME": url.database or "warehouse",
    }


# PostgreSQL's messages for errors that a second attempt may not meet: a deadlock, a
# serialization failure, a connection lost or reset (a restart, a failover, a terminated backend).
TRANSIENT_DATABASE_ERRORS = (
    "deadlock detected",
    "could not serialize access",
    "server closed the connection unexpectedly",
    "terminating connection due to administrator command",
    "connection reset by peer",
    "connection already closed",
    "connection to server was lost",
    "ssl syscall error: eof detected",
)
# Only for the errors above: any other dbt failure (a model's SQL, a failing test) fails the
# step at once (``Failure(allow_retries=False)``), since running it again gives the same answer.
DBT_RETRY_POLICY = RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)


def transient_database_error(message: str) -> str | None:
    """The transient database error named in a dbt failure's message, if any."""
    lowered = message.lower()
    return next((error for error in TRANSIENT_DATABASE_ERRORS if error in lowered), None)


SNAPSHOTS = "resource_type:snapshot"
BUILD_STAMP = "marts_staging.cardportal_build"
PENDING_DAYS = "marts_staging.cardportal_pending_days"
# The tag a mart's YAML gives it to be guarded by a blocking Great Expectations suite (checks.py).
CHECKED_TAG = "great_expectations"


@cache
def dbt_manifest() -> Mapping[str, Any]:
    """The dbt project's manifest, as the code location loaded it (``make dbt-parse``)."""
    manifest: Mapping[str, Any] = json.loads(dbt_project.manifest_path.read_text())
    return manifest


def mart_models(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The models of dbt's ``marts`` folder by name, sorted: what publish moves into ``marts``."""
    marts = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:2] == ["marts"]
    }
    return dict(sorted(marts.items()))


# The marts that are incremental by day (dbt delete+insert), published by day (assets_publish);
# the others are rebuilt whole and swapped. One definition: each model's materialization.
INCREMENTAL_FACTS = tuple(
    name
    for name, node in mart_models(dbt_manifest()).items()
    if node["config"]["materialized"] == "incremental"
)


def run_days_vars(days: list[date]) -> list[str]:
    """``--vars`` naming the run's days for the incremental models (none: a full build)."""
    if not days:
        return []
    return ["--vars", json.dumps({"min_date": days[0].isoformat(), "max_date": days[-1].isoformat()})]


def _dbt_build(
    context: AssetExecutionContext, dbt: DbtCliResource, platform: PlatformResource, extra: list[str]
) -> Iterator[Any]:
    os.environ.update(dbt_environment(platform.warehouse_conninfo))
    invocation = None
    try:
        invocation = dbt.cli(["build", *extra], context=context)
        # Row counts and column schemas from the warehouse the build used (pipelines.dbt_metadata):
        # dagster-dbt's own fetch_row_counts() fails on a warehouse not named "warehouse".
        yield from with_table_metadata(
            invocation.stream(),
            invocation.manifest,
            libpq_conninfo(platform.warehouse_conninfo),
            context.log,
        )
    except DagsterDbtCliRuntimeError as error:
        transient = transient_database_error(str(error))
        if transient is None:
            raise Failure(description=str(error), allow_retries=False) from error
        context.log.warning(f"dbt build met a transient database error ({transient}): retrying the step")
        raise
    finally:
        if invocation is not None:
            record_test_results(context, platform, invocation)
        prune_run_folders(DBT_DIR / "target")


def record_test_results(context: AssetExecutionContext, platform: PlatformResource, invocation: Any) -> None:
    """The build's data and unit tests into reporting.dbt_test_results; never fails the step."""
    try:
        run_results = invocation.get_artifact("run_results.json")
        with platform.warehouse() as conn:
            count = dbt_results.record(conn, context.run.run_id, run_results, invocation.manifest)
        context.log.info(f"{count} dbt test results recorded")
    except (OSError, ValueError, psycopg.Error) as exc:
        context.log.warning(f"dbt test results not recorded: {exc}")


def stage_days(conninfo: str, days: list[date]) -> None:
    """Before the build: the run's days join the days staged but not yet published, and the
    build is marked full (publish copies the facts whole) when a fact is not staged yet."""
    with psycopg.connect(libpq_conninfo(conninfo)) as conn:
        conn.execute("create schema if not exists marts_staging")
        conn.execute(
            f"create table if not exists {BUILD_STAMP} (id boolean primary key default true check (id), "
            "run_id text, full_build boolean not null, built_at timestamptz)"
        )
        conn.execute(f"create table if not exists {PENDING_DAYS} (day date primary key)")
        missing = any(
            conn.execute("select to_regclass(%s) is null", (f"marts_staging.{fact}",)).fetchone() == (True,)
            for fact in INCREMENTAL_FACTS
        )
        conn.execute(
            f"insert into {BUILD_STAMP} (run_id, full_build) values (null, %s) on conflict (id) do update "
            f"set run_id = null, full_build = {BUILD_STAMP}.full_build or excluded.full_build",
            (missing,),
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                f"insert into {PENDING_DAYS} (day) values (%s) on conflict do nothing", [(d,) for d in days]
            )


def stamp_marts_build(conninfo: str, run_id: str) -> None:
    """After the build: name the run whose build ``marts_staging`` holds (publish refuses others)."""
    with psycopg.connect(libpq_conninfo(conninfo)) as conn:
        conn.execute(f"update {BUILD_STAMP} set run_id = %s, built_at = now()", (run_id,))


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=SNAPSHOTS,
    dagster_dbt_translator=CardportalTranslator(),
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    retry_policy=DBT_RETRY_POLICY,
    pool=MARTS_POOL,
)
def cardportal_dbt_assets(
    context: AssetExecutionContext, dbt: DbtCliResource, platform: PlatformResource
) -> Iterator[Any]:
    # The big facts rebuild the keys touched on the run's days, everything else is rebuilt whole;
    # a retried attempt does the same again (delete+insert, views replaced in place).
    window = context.partition_time_window
    days = [window.start.date() + timedelta(days=n) for n in range((window.end - window.start).days)]
    marts = any(key.path[0] == "marts" for key in context.selected_asset_keys)
    if marts:
        stage_days(platform.warehouse_conninfo, days)
    yield from _dbt_build(context, dbt, platform, run_days_vars(days))
    if marts:
        stamp_marts_build(platform.warehouse_conninfo, context.run.run_id)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=SNAPSHOTS,
    dagster_dbt_translator=CardportalTranslator(),
    retry_policy=DBT_RETRY_POLICY,
    pool=MARTS_POOL,
)
def cardportal_dbt_snapshots(
    context: AssetExecutionContext, dbt: DbtCliResource, platform: PlatformResource
) -> Iterator[Any]:
    # Unpartitioned: the state of the accounts as last extracted, recorded when this runs.
    yield from _dbt_build(context, dbt, platform, [])


def prune_run_folders(target: Path, keep: int = 5) -> None:
    """dagster-dbt leaves ~1.5 MB of artifacts per run in target/<run>: keep the newest few."""
    runs = sorted((p for p in target.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in runs[keep:]:
        shutil.rmtree(old, ignore_errors=True)
