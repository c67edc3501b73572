"""The data-platform benchmarks' world: many transactions in the operational tables, a warehouse beside.

``extract``, ``mart_build`` and ``monthly_pack`` share one world per bench
run (seeding a million rows takes a while): 1,000 accounts and 1,000,000
posted purchases over a year (200,000 over ~73 days in QUICK mode), written
by :mod:`bench.seed` in bulk, and an empty warehouse database on the same
server. :func:`extract_everything` fills ``warehouse.raw`` through the real
extract specs, day by day, as the daily job does.

The pipelines read ``PIPELINES_START_DATE`` when :mod:`pipelines.partitions`
is imported, so :func:`pipelines_env` sets it (to a day before the world's
first) before anything imports :mod:`pipelines`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from bench.env import BenchEnv
from bench.seed import seed_accounts, seed_transactions
from cardportal.database import libpq_conninfo

if TYPE_CHECKING:
    from pipelines.resources import PlatformResource

ACCOUNTS = 1_000
REPO = Path(__file__).resolve().parent.parent
DBT_DIR = REPO / "dbt"
# Far enough back for a full year's world, whatever today is.
START_DATE = (datetime.now(UTC).date() - timedelta(days=400)).isoformat()


def pipelines_env(home: Path) -> None:
    """The settings the pipelines read at import and at run time."""
    os.environ["PIPELINES_START_DATE"] = START_DATE
    os.environ["CARDPORTAL_HOME"] = str(home)


def bench_platform(operational_url: str, warehouse_url: str, home: Path) -> PlatformResource:
    """The pipelines' resource on a bench world, ready to use outside a Dagster run."""
    from pipelines.resources import PlatformResource

    platform = PlatformResource(
        operational_url=operational_url,
        warehouse_url=warehouse_url,
        home=str(home),
        pii_hash_salt="bench-salt",
    )
    platform.setup_for_execution(None)  # type: ignore[arg-type]
    return platform


def daily_job_run(platform: PlatformResource) -> tuple[list[Any], dict[str, Any]]:
    """The daily job's assets and resources, for ``dagster.materialize`` in process."""
    from dagster_dbt import DbtCliResource

    from pipelines.assets_dbt import cardportal_dbt_assets, dbt_project
    from pipelines.assets_extract import api_requests, extract_assets
    from pipelines.assets_publish import published_marts
    from pipelines.assets_reports import daily_activity_report
    from pipelines.checks import great_expectations_marts
    from pipelines.definitions import dbt_executable

    assets = [
        *extract_assets,
        api_requests,
        cardportal_dbt_assets,
        great_expectations_marts,
        published_marts,
        daily_activity_report,
    ]
    resources = {
        "platform": platform,
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    }
    return assets, resources


@dataclass
class WarehouseWorld:
    operational_url: str
    warehouse_url: str
    home: Path
    rows: int
    days: list[date]
    extracted: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def platform(self) -> PlatformResource:
        return bench_platform(self.operational_url, self.warehouse_url, self.home)


def empty_database(env: BenchEnv, name: str) -> str:
    with env.admin() as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return env.url(name)


def world(env: BenchEnv) -> WarehouseWorld:
    """The shared world of this bench run (seeded on first use)."""
    existing = env.shared.get("warehouse_world")
    if isinstance(existing, WarehouseWorld):
        return existing
    home = env.root / "warehouse-home"
    home.mkdir(parents=True, exist_ok=True)
    pipelines_env(home)
    rows = 200_000 if env.quick else 1_000_000
    started = time.perf_counter()
    operational = env.fresh_database("bench_wh_ops")
    seed_accounts(operational, first=1, last=ACCOUNTS)
    seed_transactions(operational, rows=rows, accounts=ACCOUNTS, target=1, every=ACCOUNTS)
    warehouse = empty_database(env, "bench_wh")
    with psycopg.connect(libpq_conninfo(operational)) as conn:
        first, last = conn.execute(
            "select min(created_at)::date, max(created_at)::date from transactions"
        ).fetchone()  # type: ignore[misc]
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    made = WarehouseWorld(operational, warehouse, home, rows, days)
    made.timings["seed_seconds"] = round(time.perf_counter() - started, 1)
    env.shared["warehouse_world"] = made
    return made


def extract_everything(made: WarehouseWorld) -> None:
    """Every extract spec for every day of the world, as a backfill of the daily job would."""
    if made.extracted:
        return
    from pipelines.extract import SPECS, extract_days, extract_request_log

    platform = made.platform()
    started = time.perf_counter()
    for spec in SPECS:
        extract_days(platform, spec, made.days)
    for day in made.days:  # no request logs in this world: empty tables, as the job leaves them
        extract_request_log(platform, day)
    made.timings["extract_all_seconds"] = round(time.perf_counter() - started, 1)
    made.extracted = True


def copy_out_in(source_url: str, target_url: str, query: str, table: str, like: str) -> int:
    """The raw baseline: ``COPY (query) TO STDOUT`` into Polars, ``COPY … FROM STDIN`` of the same rows."""
    import polars as pl

    with psycopg.connect(libpq_conninfo(source_url)) as source:
        buffer = io.BytesIO()
        with source.cursor().copy(f"copy ({query}) to stdout (format csv, header)") as copy:
            for chunk in copy:
                buffer.write(chunk)
    buffer.seek(0)
    frame = pl.read_csv(buffer, infer_schema=False)
    with psycopg.connect(libpq_conninfo(target_url)) as target:
        target.execute(f"create table if not exists {table} (like {like})")
        target.execute(f"alter table {table} alter column _partition_date drop not null")
        target.execute(f"truncate {table}")
        columns = ", ".join(frame.columns)
        with target.cursor().copy(f"copy {table} ({columns}) from stdin (format csv, header)") as copy:
            copy.write(frame.write_csv().encode())
        target.commit()
    return frame.height


def dbt(made: WarehouseWorld, *args: str) -> float:
    """One dbt invocation against the world's warehouse (its own target folder); seconds taken."""
    from pipelines.assets_dbt import dbt_environment

    target = made.home / "dbt-target"
    command = [
        str(Path(sys.executable).parent / "dbt"),
        *args,
        "--project-dir",
        str(DBT_DIR),
        "--profiles-dir",
        str(DBT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(made.home / "dbt-logs"),
    ]
    env = {**os.environ, **dbt_environment(made.warehouse_url)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=DBT_DIR, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return seconds


def timed_query(url: str, query: str, params: Any = None) -> float:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        started = time.perf_counter()
        conn.execute(query, params)
        seconds = time.perf_counter() - started
        conn.rollback()
    return seconds
