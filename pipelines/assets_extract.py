"""Extract assets: one per raw table, partitioned by business day."""

from datetime import date, timedelta

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    asset,
)

from pipelines.extract import SPECS, ExtractSpec, extract_days, extract_request_log
from pipelines.partitions import daily_partitions
from pipelines.resources import PlatformResource

OWNERS = ["team:data-platform"]


def partition_days(context: AssetExecutionContext) -> list[date]:
    """The days of this run: one partition, or a range in a single-run backfill."""
    window = context.partition_time_window
    first, last = window.start.date(), window.end.date()
    return [first + timedelta(days=n) for n in range((last - first).days)]


def _extract_asset(spec: ExtractSpec) -> AssetsDefinition:
    @asset(
        key=["raw", spec.table],
        description=spec.description,
        partitions_def=daily_partitions,
        backfill_policy=BackfillPolicy.single_run(),
        group_name="extract",
        owners=OWNERS,
        kinds={"polars", "postgres"},
    )
    def _extract(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult[None]:
        result = extract_days(platform, spec, partition_days(context))
        rows, seconds = result.rows, result.seconds
        return MaterializeResult(
            metadata={
                "rows": rows,
                "seconds": round(seconds, 3),
                "rows_per_second": round(rows / seconds) if seconds else 0,
            }
        )

    return _extract


extract_assets = [_extract_asset(spec) for spec in SPECS]


@asset(
    key=["raw", "api_requests"],
    description=(
        "The gateway's access log (logs/api/<day>.jsonl) of the day; malformed lines go to "
        "raw.api_requests_quarantine with the reason. No client IPs or paths; callers by salted key."
    ),
    partitions_def=daily_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="extract",
    owners=OWNERS,
    kinds={"python", "postgres"},
)
def api_requests(context: AssetExecutionContext, platform: PlatformResource) -> MaterializeResult[None]:
    rows = quarantined = 0
    for day in partition_days(context):
        loaded, bad = extract_request_log(platform, day)
        rows += loaded
        quarantined += bad
        if bad:
            context.log.warning(f"{day}: {bad} malformed log lines set aside in raw.api_requests_quarantine")
    return MaterializeResult(metadata={"rows": rows, "quarantined_lines": quarantined})
