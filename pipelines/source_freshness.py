"""``dbt source freshness`` in the daily job, as asset checks on the raw extracts.

One check per raw source that declares ``freshness`` in
dbt/models/staging/cardportal/_cardportal__sources.yml (its ``loaded_at_field`` and
``warn_after``/``error_after``). The checks target the extract assets (``raw/<table>``), so
every job selecting the extract group (``daily_job``) runs them after the day's extract. A
source past ``error_after`` fails with severity ERROR, past ``warn_after`` with WARN; neither
blocks (a quiet day is no reason to hold the marts), and ``alert_on_failed_checks`` tells.
"""

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    multi_asset_check,
)
from dagster_dbt import DbtCliResource

from pipelines.assets_dbt import dbt_manifest
from pipelines.resources import PlatformResource


def fresh_sources(manifest: Mapping[str, Any] | None = None) -> dict[str, str]:
    """unique_id -> table of the raw sources that declare a freshness threshold."""
    manifest = manifest if manifest is not None else dbt_manifest()
    out = {}
    for unique_id, source in manifest["sources"].items():
        freshness = source.get("freshness") or {}
        declared = any((freshness.get(level) or {}).get("count") for level in ("warn_after", "error_after"))
        if source["source_name"] == "raw" and declared and source.get("loaded_at_field"):
            out[unique_id] = source["name"]
    return out


SOURCES = fresh_sources()


def _check_name(table: str) -> str:
    return f"dbt_source_freshness_{table}"


@multi_asset_check(
    specs=[
        AssetCheckSpec(
            name=_check_name(table),
            asset=AssetKey(["raw", table]),
            description=f"dbt source freshness of raw.{table}: its newest row against the thresholds.",
        )
        for table in SOURCES.values()
    ],
    description="dbt source freshness on the raw sources that declare thresholds.",
)
def dbt_source_freshness(
    context: AssetCheckExecutionContext, dbt: DbtCliResource, platform: PlatformResource
) -> Iterator[AssetCheckResult]:
    from pipelines.assets_dbt import dbt_environment

    os.environ.update(dbt_environment(platform.warehouse_conninfo))
    selection = " ".join(f"source:raw.{table}" for table in SOURCES.values())
    invocation = dbt.cli(["source", "freshness", "--select", selection], raise_on_error=False)
    invocation.wait()
    try:
        results = {r["unique_id"]: r for r in invocation.get_artifact("sources.json")["results"]}
    except FileNotFoundError:
        results = {}
    for unique_id, table in SOURCES.items():
        result: dict[str, Any] = results.get(unique_id, {"status": "runtime error"})
        status = str(result.get("status"))
        context.log.info(f"raw.{table}: source freshness {status}")
        yield AssetCheckResult(
            asset_key=AssetKey(["raw", table]),
            check_name=_check_name(table),
            passed=status == "pass",
            severity=AssetCheckSeverity.WARN if status == "warn" else AssetCheckSeverity.ERROR,
            description=(
                f"raw.{table} is {status}: newest row {result.get('max_loaded_at')}, "
                f"{round(float(result.get('max_loaded_at_time_ago_in_s') or 0) / 3600, 1)} h before the check"
                if "max_loaded_at" in result
                else f"raw.{table}: dbt source freshness failed ({status}): {result.get('message') or ''}"
            ),
            metadata={
                "status": status,
                "max_loaded_at": str(result.get("max_loaded_at")),
                "snapshotted_at": str(result.get("snapshotted_at")),
                "age_hours": round(float(result.get("max_loaded_at_time_ago_in_s") or 0) / 3600, 2),
                "criteria": json.dumps(result.get("criteria"), default=str),
            },
        )
