"""dbt's docs, regenerated after each successful daily run (served by ``cardportal up``).

``dbt_docs`` runs ``dbt docs generate --static`` against the warehouse (``cardportal.docs``):
the models, columns and descriptions, the lineage to the exposures, and the catalog of the
tables as they were just published. The sensor ``docs_after_daily_run`` asks for it once per
successful ``daily_job`` run; it is on by default.
"""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    DagsterRunStatus,
    DefaultSensorStatus,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    RunStatusSensorContext,
    asset,
    define_asset_job,
    run_status_sensor,
)

from cardportal.docs import generate_dbt_docs
from pipelines.automation import daily_job
from pipelines.resources import PlatformResource


@asset(
    key="dbt_docs",
    deps=[AssetKey("published_marts")],
    description="dbt's documentation site (one static page) under $CARDPORTAL_HOME/docs/dbt.",
    group_name="docs",
    owners=["team:data-platform"],
    kinds={"dbt", "html"},
)
def dbt_docs(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult[None]:
    page = generate_dbt_docs(platform.warehouse_conninfo, platform.home_dir)
    context.log.info(f"dbt docs written to {page}")
    return MaterializeResult(metadata={"page": MetadataValue.path(str(page)), "bytes": page.stat().st_size})


docs_job = define_asset_job("docs_job", selection=AssetSelection.assets("dbt_docs"))


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[daily_job],
    request_job=docs_job,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)
def docs_after_daily_run(context: RunStatusSensorContext) -> RunRequest:
    return RunRequest(run_key=f"docs-{context.dagster_run.run_id}")
