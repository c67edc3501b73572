"""One run through the persistent, PostgreSQL-backed Dagster instance that `cardportal up` uses.

In-process ``materialize()`` on an ephemeral instance hides storage faults
(the psycopg2 URL form, see RECIPES.md): this run stores its events in the
``dagster`` database through dagster.yaml as the daemon would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.pipelines.conftest import persistent_dagster_home, platform_resources


def test_a_run_through_the_persistent_postgres_instance(
    server_url: str,
    database_url: str,
    warehouse_url: str,
    dbt_manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus, materialize

    from pipelines.assets_extract import api_requests

    home = persistent_dagster_home(server_url, database_url, tmp_path, monkeypatch, suffix="dagster")
    with home as storage:
        assert "env: DAGSTER_PG_URL" in (tmp_path / "dagster" / "dagster.yaml").read_text()
        today = datetime.now(UTC).date().isoformat()
        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = materialize(
                [api_requests],
                resources=platform_resources(database_url, warehouse_url, tmp_path),
                partition_key=today,
                instance=instance,
            )
            assert result.success
            run = instance.get_run_by_id(result.run_id)
            assert run is not None
            assert run.status == DagsterRunStatus.SUCCESS
            stored = instance.fetch_materializations(AssetKey(["raw", "api_requests"]), limit=5)
            assert [r.partition_key for r in stored.records] == [today]
        with psycopg.connect(storage) as conn:
            events = conn.execute(
                "select count(*) from event_logs where run_id = %s", (result.run_id,)
            ).fetchone()
        assert events is not None
        assert events[0] > 5
