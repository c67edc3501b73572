"""Overlapping runs through the persistent instance (issue 22, finding 2).

The Dagster webserver and daemon run as ``cardportal up`` starts them (PostgreSQL
storage, the queued run coordinator, dagster.yaml's pools), over a world seeded in
bulk (``bench.incremental_day.seed_world``: accounts and posted purchases with
their ledger transfers and entries). Two daily runs over overlapping ranges of
days and a weekly run are queued at once; the published marts and every report
file must equal those of the same days run one after another in process, and no
two runs holding pool ``warehouse_marts`` may have been in progress together.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cardportal.database import DatabaseUrls, database_on_same_server, libpq_conninfo, parse_url
from tests.conftest import TEMPLATE_DB
from tests.pipelines.conftest import SALT, daily_selection, platform_resources, range_tags, raw_fingerprint

DAYS = 10
# Every job holds pool warehouse_marts (tests/pipelines/test_definitions.py checks it).
POOLED_JOBS = {"daily_job", "weekly_job", "monthly_job", "snapshot_job"}


def _recreate(admin: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        create = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            create = sql.SQL("create database {} template {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(create)


@dataclass
class RaceWorld:
    days: list[date]
    operational: str
    warehouses: dict[str, str]
    dagster: str
    homes: dict[str, Path]


@pytest.fixture(scope="module")
def race_world(
    server_url: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RaceWorld]:
    """Ten days ending on the last day of the previous month: its weeks and the month complete."""
    from bench.benchmarks.incremental_day import seed_world
    from cardportal.warehouse import ensure_warehouse

    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    base = parse_url(database_url).database
    names = {
        "operational": f"{base}_race_ops",
        "serial": f"{base}_race_serial",
        "race": f"{base}_race_wh",
        "dagster": f"{base}_race_dagster",
    }
    _recreate(admin, names["operational"], TEMPLATE_DB)
    for key in ("serial", "race", "dagster"):
        _recreate(admin, names[key])
    urls = {key: database_on_same_server(server_url, name) for key, name in names.items()}
    last = datetime.now(UTC).date().replace(day=1) - timedelta(days=1)
    days = [last - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    seed_world(urls["operational"], accounts=4, per_day=6, days=DAYS, last=last)
    for key in ("serial", "race"):
        ensure_warehouse(urls[key])
    homes = {key: tmp_path_factory.mktemp(f"race-{key}") for key in ("serial", "race")}
    yield RaceWorld(
        days, urls["operational"], {k: urls[k] for k in ("serial", "race")}, urls["dagster"], homes
    )
    for name in names.values():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _published(url: str) -> tuple[dict[str, tuple[int, str]], list[tuple[Any, ...]], list[date]]:
    """The published marts' fingerprint, the report files (name, period, start, format, sha256), the days."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        marts = raw_fingerprint(conn, "marts")
        files = conn.execute(
            "select name, period, period_start, format, sha256 from reporting.report_files "
            "order by 1, 2, 3, 4"
        ).fetchall()
        days = [r[0] for r in conn.execute("select day from reporting.published_days order by 1")]
    return marts, files, days


def _serial(world: RaceWorld) -> None:
    """The same days one after another, in process: the reference."""
    from dagster import DagsterInstance, materialize

    from pipelines.assets_reports import monthly_finance_pack, weekly_activity_report
    from pipelines.automation import complete_periods

    resources = platform_resources(world.operational, world.warehouses["serial"], world.homes["serial"])
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            daily_selection(),
            resources=resources,
            tags=range_tags(world.days[0], world.days[-1]),
            instance=instance,
        )
        assert result.success
        for job, start in complete_periods(set(world.days)):
            asset = weekly_activity_report if job == "weekly_job" else monthly_finance_pack
            assert materialize(
                [asset], resources=resources, partition_key=start.isoformat(), instance=instance
            ).success


def test_overlapping_runs_publish_what_a_serial_run_publishes(
    race_world: RaceWorld, dbt_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    from cardportal.dagster import IN_PROCESS, DagsterUI, start
    from cardportal.supervisor import Supervisor
    from pipelines.automation import complete_periods
    from tests.conftest import make_settings

    world = race_world
    _serial(world)

    home = world.homes["race"]
    port = _free_port()
    settings = make_settings(home, DAGSTER_PORT=str(port), PII_HASH_SALT=SALT)
    for key, value in {
        "CARDPORTAL_ENV": "sandbox",
        "CARDPORTAL_HOME": str(home),
        "DATABASE_URL": world.operational,
        "WAREHOUSE_URL": world.warehouses["race"],
        "PII_HASH_SALT": SALT,
    }.items():
        monkeypatch.setenv(key, value)
    urls = DatabaseUrls(world.operational, world.warehouses["race"], world.dagster, embedded=False)
    supervisor = Supervisor(stop_timeout=20)
    try:
        ui = DagsterUI(start(supervisor, settings, urls, host="127.0.0.1"))
        ui.wait_ready()
        d = world.days
        # Queued at once: two daily runs whose ranges overlap (days 4 to 7 in both), a re-run of
        # the last day, and the last complete week's report before any of its days is published.
        week = next(start for job, start in reversed(complete_periods(set(d))) if job == "weekly_job")
        launched = {
            "first": ui.launch("daily_job", range_tags(d[0], d[6]), run_config=IN_PROCESS),
            "second": ui.launch("daily_job", range_tags(d[3], d[-1]), run_config=IN_PROCESS),
            "rerun": ui.launch("daily_job", {"dagster/partition": d[-1].isoformat()}, run_config=IN_PROCESS),
            "week": ui.launch("weekly_job", {"dagster/partition": week.isoformat()}, run_config=IN_PROCESS),
        }
        statuses = ui.wait(list(launched.values()), timeout=900)
        assert all(s == "SUCCESS" for s in statuses.values()), statuses
        # The sensor launches each complete week and month once its days are published: wait for them.
        expected = {
            f"{'week' if job == 'weekly_job' else 'month'}:{start}" for job, start in complete_periods(set(d))
        }
        monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
        from cardportal.warehouse import dagster_environment

        for key, value in dagster_environment(settings.dagster_home, world.dagster).items():
            monkeypatch.setenv(key, value)
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 600
            while True:
                records = instance.get_run_records(
                    RunsFilter(tags={"dagster/sensor_name": "published_periods_sensor"})
                )
                # Run keys are `<period>@<version>`: a period whose day a later run published
                # again is launched again, for the new version.
                keys = {str(r.dagster_run.tags.get("dagster/run_key")).split("@")[0] for r in records}
                done = all(
                    r.dagster_run.status in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)
                    for r in records
                )
                if (keys >= expected and done) or time.monotonic() > deadline:
                    break
                time.sleep(5)
            assert keys >= expected
            assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records)
            every = instance.get_run_records(RunsFilter())
    finally:
        supervisor.stop()

    # Queued together, in progress one at a time: no two runs holding the pool overlapped.
    spans = sorted(
        (r.start_time, r.end_time, r.dagster_run.job_name)
        for r in every
        if r.start_time and r.end_time and r.dagster_run.job_name in POOLED_JOBS
    )
    assert len(spans) >= len(launched) + len(expected)
    for (_, ended, _), (began, _, _) in itertools.pairwise(spans):
        assert began >= ended, spans
    created = {r.dagster_run.run_id: r.create_timestamp.timestamp() for r in every}
    first_end = next(r.end_time for r in every if r.dagster_run.run_id == launched["first"])
    assert all(created[run_id] < first_end for run_id in launched.values())  # they did overlap in the queue

    serial_marts, serial_files, serial_days = _published(world.warehouses["serial"])
    race_marts, race_files, race_days = _published(world.warehouses["race"])
    assert race_days == serial_days == d
    assert race_marts == serial_marts
    assert race_files == serial_files
    assert {(f[0], f[1]) for f in race_files} == {
        ("card_activity_daily", "daily"),
        ("card_activity_weekly", "weekly"),
        ("finance_pack_monthly", "monthly"),
    }
