"""Demo data: a modest simulated world on a new sandbox, and the one-shot ``cardportal demo``.

``cardportal up`` seeds a new sandbox database in the background once the API
answers (progress on the terminal); later starts find the data and skip it.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import create_engine, text

from cardportal.database import DatabaseUrls, with_driver
from cardportal.settings import Settings

if TYPE_CHECKING:
    from cardportal.dagster import DagsterUI

DEMO_SEED = 42
DEMO_CUSTOMERS = 40
DEMO_DAYS = 60


def needs_demo_data(settings: Settings, database_url: str) -> bool:
    """A sandbox whose database has no customer yet."""
    if settings.env != "sandbox":
        return False
    engine = create_engine(with_driver(database_url, "psycopg"))
    try:
        with engine.connect() as conn:
            customers: int = conn.execute(
                text("select count(*) from users where role = 'customer'")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(customers) == 0


def run_simulation(
    settings: Settings, base_url: str, *, customers: int, days: int, seed: int, quiet: bool = False
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    from simulator.engine import Simulation, SimulationConfig

    config = SimulationConfig(
        base_url=base_url,
        customers=customers,
        days=days,
        seed=seed,
        network_key=settings.secret("network_api_key"),
        admin_email=settings.first_admin_email or "",
        admin_password=settings.secret("first_admin_password"),
        stripe_api_base=settings.stripe_api_base,
        stripe_api_key=settings.secret("stripe_api_key"),
        output_dir=settings.home / "simulations" / f"seed{seed}",
    )
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if not quiet and (done == total or now - last[0] > 5):
            last[0] = now
            print(f"  demo data: day {done}/{total}", flush=True)

    simulation = Simulation(config, on_day=progress)
    summary = simulation.run()
    return summary, simulation.sample_login


def _wait_for_api(base_url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)


def pending_marker(settings: Settings) -> Path:
    """Present while the demo's partitions are still to be materialized through Dagster."""
    return settings.dagster_home / "demo-materialization-pending"


def seed_in_background(
    settings: Settings, base_url: str, *, dagster_url: str | None, simulate: bool = True
) -> threading.Thread:
    """Seed the demo world once the API answers, then materialize its partitions through Dagster.

    With Dagster running (``dagster_url``): the sandbox sensor is stopped while the simulation
    closes day after day (it would launch one run per day), then one run of ``daily_job`` over
    every closed day, and the weeks' and months' runs after it, are queued on the persistent
    instance through the webserver; the sensor restarts with its cursor on the last day done.
    A marker in ``$DAGSTER_HOME`` makes a later start finish the work if this one was stopped.
    """

    def work() -> None:
        _wait_for_api(base_url)
        ui = None
        if dagster_url:
            from cardportal.dagster import DagsterUI

            ui = DagsterUI(dagster_url)
            marker = pending_marker(settings)
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("the demo data's partitions are not materialized yet\n")
            try:
                ui.wait_ready()
                ui.stop_sensor()
            except Exception as exc:
                print(f"  demo data: Dagster not ready ({exc}); the sensor will catch up", file=sys.stderr)
                ui = None
        if simulate:
            print(f"  demo data: simulating {DEMO_CUSTOMERS} customers over {DEMO_DAYS} days…", flush=True)
            try:
                summary, login = run_simulation(
                    settings, base_url, customers=DEMO_CUSTOMERS, days=DEMO_DAYS, seed=DEMO_SEED
                )
            except Exception as exc:  # the API keeps serving; the user sees why the data is missing
                print(f"  demo data: failed ({exc})", file=sys.stderr, flush=True)
                summary, login = None, None
            if summary is not None:
                print(
                    f"  demo data: ready — {summary['approved_accounts']} accounts, "
                    f"{summary['authorizations_approved']} purchases, {summary['statements']} statements, "
                    f"trial balance {'balanced' if summary['trial_balance']['balanced'] else 'NOT balanced'}",
                    flush=True,
                )
            if login:
                print(f"  demo customer: {login[0]} / {login[1]}   (web app: {base_url}/app)", flush=True)
        if ui is not None:
            materialize_through_dagster(settings, ui)

    thread = threading.Thread(target=work, name="demo-data", daemon=True)
    thread.start()
    return thread


def materialize_through_dagster(settings: Settings, ui: DagsterUI) -> None:
    """The demo's closed partitions as runs on the persistent instance; the sensor on again after."""
    from cardportal.dagster import IN_PROCESS
    from cardportal.database import resolve_databases

    urls = resolve_databases(settings, create=False)
    span = closed_span(urls.operational, settings.pipelines_start_date)
    cursor = span.last.isoformat() if span else None
    try:
        if span is None:
            return
        started = time.monotonic()
        print(
            f"  data platform: materializing {span.days} days ({span.first}..{span.last}), "
            f"{len(span.weeks)} weeks, {len(span.months)} months through Dagster ({ui.url}/runs)…",
            flush=True,
        )
        tags = {"cardportal/demo": "true"}
        daily = ui.launch_once(
            "daily_job",
            {**tags, **range_tags(span.first, span.last)},
            key=f"demo:{span.first}..{span.last}",
            run_config=IN_PROCESS,
        )
        status = ui.wait([daily], timeout=3600)[daily]
        if status != "SUCCESS":
            print(f"  data platform: daily_job {status} (run {daily}, see {ui.url}/runs/{daily})", flush=True)
            return
        print(f"  data platform: every day done ({time.monotonic() - started:.0f} s)", flush=True)
        later = [
            ui.launch_once(
                job,
                {**tags, "dagster/partition": key.isoformat()},
                key=f"demo:{job}:{key}",
                run_config=IN_PROCESS,
            )
            for job, keys in (("weekly_job", span.weeks), ("monthly_job", span.months))
            for key in keys
        ]
        # The accounts snapshot, once, after the days (its own cadence, not a step of each day).
        later.append(ui.launch_once("snapshot_job", tags, key="demo:snapshot_job", run_config=IN_PROCESS))
        statuses = ui.wait(later, timeout=3600)
        failed = [run_id for run_id, s in statuses.items() if s != "SUCCESS"]
        print(
            f"  data platform: demo partitions materialized in {time.monotonic() - started:.0f} s"
            + (f"; {len(failed)} weekly/monthly runs did not succeed" if failed else "")
            + f" — reports in {settings.home / 'reports'}",
            flush=True,
        )
    except Exception as exc:
        print(f"  data platform: demo materialization failed ({exc})", file=sys.stderr, flush=True)
    finally:
        try:
            ui.start_sensor(cursor)
            pending_marker(settings).unlink(missing_ok=True)
        except Exception as exc:
            print(f"  data platform: could not restart {exc}", file=sys.stderr, flush=True)


# The data platform over the demo world ------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """The closed partitions of a world: its days, the ISO weeks and the months they complete."""

    first: date
    last: date
    weeks: tuple[date, ...]
    months: tuple[date, ...]

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def closed_span(operational_url: str, start_date: date) -> Span | None:
    """From the first day of activity to the last closed business day (as the sensor sees it)."""
    import psycopg

    from cardportal.database import libpq_conninfo
    from pipelines.clock import first_activity_day, last_closed_day

    with psycopg.connect(libpq_conninfo(operational_url)) as conn:
        first_activity, last = first_activity_day(conn), last_closed_day(conn)
    if first_activity is None or last is None:
        return None
    first = max(start_date, first_activity)
    if last < first:
        return None
    weeks: list[date] = []
    months: list[date] = []
    day = first
    while day <= last:
        if day.isoweekday() == 7 and day - timedelta(days=6) >= first:  # Sunday closes the ISO week
            weeks.append(day - timedelta(days=6))
        if (day + timedelta(days=1)).day == 1 and day.replace(day=1) >= first:  # a month's last day
            months.append(day.replace(day=1))
        day += timedelta(days=1)
    return Span(first, last, tuple(weeks), tuple(months))


def range_tags(first: date, last: date) -> dict[str, str]:
    """A single-run backfill of the daily partitions ``first``..``last``."""
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


@dataclass
class JobRun:
    job: str
    partitions: str
    success: bool
    seconds: float


def materialize_in_process(settings: Settings, urls: DatabaseUrls, span: Span) -> list[JobRun]:
    """The platform's own jobs over the span, in this process, on an ephemeral Dagster instance.

    ``daily_job`` once over every day (its assets have single-run backfill policies: extracts,
    dbt build, Great Expectations checks, publish, the daily reports), ``snapshot_job``, then
    ``weekly_job`` for each ISO week and ``monthly_job`` for each month the span completes: what
    the sensors launch, without the webserver and daemon.
    """
    import warnings

    warnings.filterwarnings("ignore", module="dagster")  # beta and preview notices, not for the demo
    from dagster import DagsterInstance

    from cardportal.dagster import dbt_parse
    from pipelines.definitions import build_definitions
    from pipelines.resources import PlatformResource

    dbt_parse()
    platform = PlatformResource(
        operational_url=urls.operational,
        warehouse_url=urls.warehouse,
        home=str(settings.home),
        pii_hash_salt=settings.secret("pii_hash_salt"),
    )
    defs = build_definitions(platform)
    runs: list[JobRun] = []
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    with DagsterInstance.ephemeral() as instance:
        started = time.monotonic()
        result = defs.get_job_def("daily_job").execute_in_process(
            instance=instance, tags=range_tags(span.first, span.last), raise_on_error=False, run_config=quiet
        )
        runs.append(
            JobRun("daily_job", f"{span.first}..{span.last}", result.success, time.monotonic() - started)
        )
        if not result.success:
            return runs
        started = time.monotonic()
        result = defs.get_job_def("snapshot_job").execute_in_process(
            instance=instance, raise_on_error=False, run_config=quiet
        )
        runs.append(JobRun("snapshot_job", "-", result.success, time.monotonic() - started))
        for job, keys in (("weekly_job", span.weeks), ("monthly_job", span.months)):
            for key in keys:
                started = time.monotonic()
                result = defs.get_job_def(job).execute_in_process(
                    instance=instance, partition_key=key.isoformat(), raise_on_error=False, run_config=quiet
                )
                runs.append(JobRun(job, key.isoformat(), result.success, time.monotonic() - started))
    return runs


def warehouse_summary(warehouse_url: str) -> dict[str, Any]:
    """Rows in the main marts and the registered report files, by period and format."""
    import psycopg
    from psycopg import sql

    from cardportal.database import libpq_conninfo

    out: dict[str, Any] = {"marts": {}, "report_files": {}}
    with psycopg.connect(libpq_conninfo(warehouse_url)) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            )
        ]
        for table in tables:
            count = sql.SQL("select count(*) from {}").format(sql.Identifier("marts", table))
            row = conn.execute(count).fetchone()
            out["marts"][table] = int(str(row[0])) if row else 0
        out["registered"] = [
            {
                "name": name,
                "period": period,
                "period_start": str(start),
                "format": fmt,
                "path": path,
                "sha256": sha,
            }
            for name, period, start, fmt, path, sha in conn.execute(
                "select name, period, period_start, format, path, sha256 from reporting.report_files "
                "order by period, period_start, name, format"
            )
        ]
        for period, fmt, files, size in conn.execute(
            "select period, format, count(*), sum(size_bytes) from reporting.report_files "
            "group by period, format order by period, format"
        ):
            out["report_files"][f"{period} {fmt}"] = (int(files), int(size))
        row = (
            conn.execute(
                "select count(*) filter (where posted_difference_cents <> 0 "
                "or pending_difference_cents <> 0) from marts.rpt_ledger_reconciliation"
            ).fetchone()
            if "rpt_ledger_reconciliation" in tables
            else None
        )
        out["reconciliation_differences"] = int(str(row[0])) if row else None
    return out
