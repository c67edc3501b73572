"""The dashboards read the marts that the pipeline test builds: the same small world, one run per module.

The world and pipeline fixtures are defined in ``tests/pipelines/conftest.py`` and shared from
here by import, so both packages use one definition.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tests.pipelines.conftest import Pipeline, dbt_manifest, pipeline

__all__ = ["Dashboards", "dashboards", "dbt_manifest", "pipeline"]

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboards" / "app.py"


@dataclass
class Dashboards:
    pipeline: Pipeline
    env: dict[str, str]

    def scalar(self, sql: str, *params: object) -> object:
        with self.pipeline.warehouse() as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]


@pytest.fixture(scope="module")
def dashboards(pipeline: Pipeline) -> Iterator[Dashboards]:
    """The pipeline's warehouse with the weekly and monthly packs written too; the dashboards' env."""
    from dagster import DagsterInstance, materialize

    from cardportal.settings import get_settings
    from pipelines.assets_reports import monthly_finance_pack, weekly_activity_report

    first = pipeline.world.days[0]
    with DagsterInstance.ephemeral() as instance:
        for asset, key in (
            (weekly_activity_report, first - timedelta(days=first.weekday())),
            (monthly_finance_pack, first.replace(day=1)),
        ):
            assert materialize(
                [asset], resources=pipeline.resources, partition_key=key.isoformat(), instance=instance
            ).success
    env = {
        "WAREHOUSE_URL": pipeline.warehouse_url,
        "CARDPORTAL_HOME": str(pipeline.home),
        # No Dagster storage in the tests: the page must say so rather than fail.
        "DAGSTER_DATABASE_URL": pipeline.warehouse_url.replace("_warehouse", "_no_dagster"),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield Dashboards(pipeline, env)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
