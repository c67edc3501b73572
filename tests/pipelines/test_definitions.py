"""The code location loads, validates, and has the assets, jobs, schedules and sensor it should."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import Engine

from tests.pipelines.conftest import REPO


def test_dagster_definitions_validate(dbt_manifest: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CARDPORTAL_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr


def test_asset_graph_jobs_schedules_and_sensor(dbt_manifest: Path) -> None:
    from dagster import AssetKey

    from pipelines.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    for expected in (
        "raw/transactions",
        "raw/api_requests",
        "staging/stg_cardportal__transactions",
        "marts/fct_transactions",
        "marts/rpt_ledger_reconciliation",
        "raw/statements",
        "raw/payments",
        "raw/payment_exceptions",
        "raw/billing_runs",
        "raw/delinquency_days",
        "staging/stg_cardportal__delinquency_days",
        "raw/audit_events",
        "marts/fct_payments",
        "marts/fct_statements",
        "marts/rpt_delinquency",
        "marts/rpt_payments",
        "marts/rpt_revenue_monthly",
        "snapshots/snp_accounts",
        "published_marts",
        "daily_activity_report",
        "weekly_activity_report",
        "monthly_finance_pack",
    ):
        assert expected in keys
    crons = {
        name: defs.resolve_schedule_def(name).cron_schedule
        for name in ("daily_job_schedule", "snapshot_job_schedule")
    }
    assert len(list(defs.schedules or [])) == 2
    # Daily at 02:00 UTC for the previous day; the snapshot after it. Weeks and months are
    # launched by a sensor once all their days are published, not at a fixed hour.
    assert crons == {"daily_job_schedule": "0 2 * * *", "snapshot_job_schedule": "30 2 * * *"}
    assert [s.name for s in defs.sensors or []] == [
        "closed_days_sensor",
        "published_periods_sensor",
        "docs_after_daily_run",
        "alert_on_run_failure",
        "alert_on_failed_checks",
        "report_marts_freshness_sensor",
    ]
    graph = defs.resolve_asset_graph()
    checks = {k.name: graph.get_check_spec(k) for k in graph.asset_check_keys}
    gate = checks["great_expectations_rpt_ledger_reconciliation"]
    assert gate.blocking
    for mart in ("fct_payments", "fct_statements", "rpt_delinquency", "rpt_payments", "rpt_revenue_monthly"):
        assert checks[f"great_expectations_{mart}"].blocking
    daily = defs.resolve_job_def("daily_job").asset_layer.selected_asset_keys
    snapshot = AssetKey(["snapshots", "snp_accounts"])
    # The snapshot records the state it finds: its own unpartitioned asset and job, never a day's step.
    assert snapshot not in daily
    assert defs.resolve_job_def("snapshot_job").asset_layer.selected_asset_keys == {snapshot}
    assert graph.get(snapshot).partitions_def is None
    assert graph.get(AssetKey(["marts", "fct_transactions"])).partitions_def is not None
    # One pool serialises every run that builds, publishes or reads the marts (pipelines/pools.py).
    from pipelines.pools import MARTS_POOL

    for name in ("daily_job", "weekly_job", "monthly_job", "snapshot_job"):
        job = defs.resolve_job_def(name)
        assert MARTS_POOL in {node.definition.pool for node in job.graph.node_dict.values()}, name
    assert any(name.startswith("unique_") for name in checks)  # dbt tests, as checks


def test_the_published_and_checked_marts_are_the_dbt_projects(dbt_manifest: Path) -> None:
    """Issue 23.6: one list of marts, dbt's. Every model of the marts folder is published (the
    incremental ones by day), and the tagged ones, and only those, have a blocking suite."""
    import json
    import warnings

    from pipelines.assets_publish import INCREMENTAL_FACTS, MART_TABLES, SWAPPED_TABLES
    from pipelines.checks import CHECKED_TABLES, _suites

    manifest = json.loads(dbt_manifest.read_text())
    marts = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")
    }
    assert set(MART_TABLES) == set(marts)
    assert len(MART_TABLES) == len(set(MART_TABLES))
    assert {"fct_transactions", "fct_authorizations", "fct_payments"} == set(INCREMENTAL_FACTS)
    assert {"rpt_finance_monthly", "dim_accounts"} <= set(SWAPPED_TABLES)
    tagged = {name for name, node in marts.items() if "great_expectations" in node["tags"]}
    with warnings.catch_warnings():  # Great Expectations' own deprecations (as run_suites)
        warnings.simplefilter("ignore")
        suites = _suites()
    assert set(CHECKED_TABLES) == tagged == set(suites)
    assert {"fct_transactions", "rpt_ledger_reconciliation", "rpt_finance_monthly"} <= tagged


def test_the_sensor_launches_closed_days_as_one_run_then_a_snapshot() -> None:
    from pipelines.automation import MAX_DAYS_PER_TICK, closed_day_requests

    requests, cursor = closed_day_requests(date(2026, 11, 28), date(2026, 12, 1), date(2026, 1, 1))
    launched = [(r.job_name, r.partition_key, dict(r.tags)) for r in requests]
    assert launched == [
        (
            "daily_job",
            None,
            {
                "dagster/asset_partition_range_start": "2026-11-29",
                "dagster/asset_partition_range_end": "2026-12-01",
            },
        ),
        ("snapshot_job", None, {}),
    ]
    assert cursor == date(2026, 12, 1)
    again, same = closed_day_requests(cursor, date(2026, 12, 1), date(2026, 1, 1))
    assert again == []
    assert same == cursor
    one, _ = closed_day_requests(cursor, date(2026, 12, 2), date(2026, 1, 1))
    assert one[0].partition_key == "2026-12-02"
    # A month closed at once is still one run (of at most MAX_DAYS_PER_TICK days), not a month of runs.
    many, upto = closed_day_requests(None, date(2026, 12, 31), date(2026, 10, 1))
    assert [r.job_name for r in many] == ["daily_job", "snapshot_job"]
    assert upto == date(2026, 10, 1) + timedelta(days=MAX_DAYS_PER_TICK - 1)


def test_weeks_and_months_are_launched_once_all_their_days_are_published() -> None:
    from pipelines.automation import complete_periods, period_requests

    first = date(2026, 11, 25)  # a Wednesday: the days before it had no activity
    published = {first + timedelta(days=n) for n in range(12)}  # to Sunday 6 December
    assert complete_periods(published) == [
        ("weekly_job", date(2026, 11, 23)),
        ("monthly_job", date(2026, 11, 1)),
        ("weekly_job", date(2026, 11, 30)),
    ]
    gap = published - {date(2026, 12, 2)}
    assert complete_periods(gap) == [("weekly_job", date(2026, 11, 23)), ("monthly_job", date(2026, 11, 1))]
    versions = dict.fromkeys(published, "2026-12-07T02:00:00.000000")
    requests = period_requests(versions, launched={"week:2026-11-23": "2026-12-07T02:00:00.000000"})
    assert [(r.job_name, r.partition_key, r.run_key) for r in requests] == [
        ("monthly_job", "2026-11-01", "month:2026-11-01@2026-12-07T02:00:00.000000"),
        ("weekly_job", "2026-11-30", "week:2026-11-30@2026-12-07T02:00:00.000000"),
    ]
    assert complete_periods(set()) == []


def test_a_day_published_again_launches_its_week_and_month_again() -> None:
    """A corrected day re-run and published again: its week's report and its month's pack are
    written again (once per new version); the periods it is not in are not."""
    from pipelines.automation import launched_periods, period_requests

    first = date(2026, 11, 2)  # a Monday
    published = dict.fromkeys((first + timedelta(days=n) for n in range(35)), "2026-12-07T02:00:00.000000")
    launched = {
        str(r.run_key).split("@")[0]: "2026-12-07T02:00:00.000000" for r in period_requests(published, {})
    }
    assert set(launched) == {f"week:2026-11-{d:02}" for d in (2, 9, 16, 23, 30)} | {"month:2026-11-01"}
    assert period_requests(published, launched) == []
    published[date(2026, 11, 18)] = "2026-12-08T09:30:00.000000"
    again = period_requests(published, launched)
    assert [r.run_key for r in again] == [
        "week:2026-11-16@2026-12-08T09:30:00.000000",
        "month:2026-11-01@2026-12-08T09:30:00.000000",
    ]
    # A cursor written before versions (comma-separated keys) launches nothing again.
    assert launched_periods("week:2026-11-16,month:2026-11-01", published) == {
        "week:2026-11-16": "2026-12-08T09:30:00.000000",
        "month:2026-11-01": "2026-12-08T09:30:00.000000",
    }


def test_last_closed_day_is_the_latest_finished_billing_run(engine: Engine, database_url: str) -> None:
    from pipelines.clock import last_closed_day

    with psycopg.connect(database_url) as conn:
        assert last_closed_day(conn) is None  # no day has closed: nothing to launch
        conn.execute(
            "insert into billing_runs (id, day, started_at, finished_at, counts) values "
            "('brun_a', '2027-01-04', now(), now(), '{}'), ('brun_b', '2027-01-05', now(), null, '{}')"
        )
        # The 5th is still running: the 4th is the last closed day.
        assert last_closed_day(conn) == date(2027, 1, 4)
        conn.rollback()


def test_the_supervisor_stops_its_children_and_their_groups(tmp_path: Path) -> None:
    from cardportal.supervisor import Supervisor

    supervisor = Supervisor(stop_timeout=5)
    # A child that starts a grandchild: both go when the supervisor stops.
    child = supervisor.start(
        "sleeper",
        ["sh", "-c", "sleep 60 & echo $! > grandchild.pid; wait"],
        env={},
        cwd=tmp_path,
        log_file=tmp_path / "sleeper.log",
    )
    deadline = time.monotonic() + 5
    while not (tmp_path / "grandchild.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int((tmp_path / "grandchild.pid").read_text())
    supervisor.stop()
    assert child.poll() is not None
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_dbt_docs_follow_each_successful_daily_run(dbt_manifest: Path) -> None:
    from dagster import AssetKey, DefaultSensorStatus

    from pipelines.definitions import defs

    sensor = defs.resolve_sensor_def("docs_after_daily_run")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.job_name == "docs_job"
    assert defs.resolve_job_def("docs_job").asset_layer.executable_asset_keys == {AssetKey("dbt_docs")}
