"""The code location: one ``Definitions`` (loaded by the root workspace.yaml).

The dbt manifest must exist before this module is imported: ``make``, the
``cardportal`` CLI and the tests run ``dbt parse`` first.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from dagster import AssetsDefinition, AssetSpec, Definitions
from dagster_dbt import DbtCliResource

# Alerts (issue 22, finding 4): failed runs, failed checks, stale marts and sources.
from pipelines.alerts import AlertsResource, alert_sensors, report_marts_freshness
from pipelines.assets_dbt import cardportal_dbt_assets, cardportal_dbt_snapshots, dbt_project
from pipelines.assets_exposures import dashboard_pages
from pipelines.assets_extract import api_requests, extract_assets
from pipelines.assets_publish import published_marts
from pipelines.assets_reports import daily_activity_report, monthly_finance_pack, weekly_activity_report
from pipelines.automation import (
    closed_days_sensor,
    daily_job,
    monthly_job,
    published_periods_sensor,
    schedules,
    snapshot_job,
    weekly_job,
)
from pipelines.checks import great_expectations_marts
from pipelines.docs import dbt_docs, docs_after_daily_run, docs_job
from pipelines.resources import PlatformResource
from pipelines.source_freshness import dbt_source_freshness

ASSETS: list[AssetsDefinition | AssetSpec] = [
    *extract_assets,
    api_requests,
    cardportal_dbt_assets,
    cardportal_dbt_snapshots,
    published_marts,
    daily_activity_report,
    weekly_activity_report,
    monthly_finance_pack,
    *dashboard_pages,
    dbt_docs,
]


def dbt_executable() -> str:
    """The dbt installed beside this Python (the venv's bin is not always on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_definitions(platform: PlatformResource | None = None) -> Definitions:
    return Definitions(
        assets=ASSETS,
        asset_checks=[great_expectations_marts, dbt_source_freshness, *report_marts_freshness],
        jobs=[daily_job, weekly_job, monthly_job, snapshot_job, docs_job],
        schedules=schedules,
        sensors=[closed_days_sensor, published_periods_sensor, docs_after_daily_run, *alert_sensors],
        resources={
            "platform": platform or PlatformResource(),
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
            "alerts": AlertsResource(),
        },
    )


defs = build_definitions()
