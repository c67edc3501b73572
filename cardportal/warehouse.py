"""The warehouse's fixed parts, and Dagster's instance configuration.

The pipelines own what is in the warehouse; this module only makes sure the
places they write to and the read-only role exist, so the API (which reads
``reporting.report_files``) and the pipelines agree on them from the first
start:

- schemas ``raw``, ``reporting`` and ``marts`` (dbt creates the others);
- ``reporting.report_files``, the registry of report files;
- ``reporting.published_days``, the business days whose marts were checked and
  published (the weekly and monthly reports wait for all of theirs);
- the role ``cardportal_reader`` (no login): usage on ``marts`` and
  ``reporting``, select on their tables. The API and the dashboards connect
  with ``role=cardportal_reader`` and read-only transactions.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from cardportal.database import libpq_conninfo, parse_url, with_driver

READER_ROLE = "cardportal_reader"
# The Dagster pool of every run that builds, publishes or reads the marts (pipelines/pools.py),
# and its limit: one such run in progress at a time.
MARTS_POOL = "warehouse_marts"
POOL_LIMITS = {MARTS_POOL: 1}

_DDL = f"""
create schema if not exists raw;
create schema if not exists reporting;
create schema if not exists marts;
create table if not exists reporting.report_files (
    id text primary key,
    name text not null,
    period text not null check (period in ('daily', 'weekly', 'monthly')),
    period_start date not null,
    format text not null,
    path text not null,
    size_bytes bigint not null check (size_bytes >= 0),
    sha256 text not null,
    run_id text not null,
    created_at timestamptz not null default now(),
    unique (name, period_start, format)
);
create table if not exists reporting.published_days (
    day date primary key,
    run_id text not null,
    published_at timestamptz not null default now()
);
grant usage on schema reporting, marts to {READER_ROLE};
grant select on all tables in schema reporting to {READER_ROLE};
grant select on all tables in schema marts to {READER_ROLE};
"""


def ensure_reader_role(conn: psycopg.Connection[object]) -> None:
    """Create the read-only role once per server (roles are server-wide)."""
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (READER_ROLE,)).fetchone()
    if exists:
        return
    try:
        conn.execute(f"create role {READER_ROLE} nologin")
    except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
        conn.rollback()  # another process created it first


def ensure_warehouse(url: str) -> None:
    """Schemas, the report registry and the reader role (idempotent; safe to run concurrently)."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        ensure_reader_role(conn)
        conn.commit()
        conn.execute("select pg_advisory_xact_lock(7423013)")
        conn.execute(_DDL)
        conn.commit()


def reader_connect_args() -> dict[str, str]:
    """libpq options that make a connection act as the reader role, read-only."""
    return {"options": f"-c role={READER_ROLE} -c default_transaction_read_only=on"}


def dagster_storage_url(url: str) -> str:
    """Dagster's storage needs the psycopg2 driver named (see RECIPES.md)."""
    return with_driver(url, "psycopg2")


def write_dagster_yaml(dagster_home: Path, dagster_url: str) -> Path:
    """``$DAGSTER_HOME/dagster.yaml``: runs, events and schedules in PostgreSQL; the run queue.

    Pools are enforced per run (``granularity: run``) with a default limit of 1: see
    :mod:`pipelines.pools` for why the marts need the run, not the step, as the unit.

    The URL itself is read from ``DAGSTER_PG_URL`` when Dagster starts, so no
    password is written to disk; the launcher and the tests set it.
    """
    parse_url(dagster_url)  # refuse anything but PostgreSQL early
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    path.write_text(
        "# Written by cardportal; the URL comes from DAGSTER_PG_URL "
        "(postgresql+psycopg2://..., see RECIPES.md).\n"
        "storage:\n"
        "  postgres:\n"
        "    postgres_url:\n"
        "      env: DAGSTER_PG_URL\n"
        "run_coordinator:\n"
        "  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        "# Two runs at once; runs holding pool warehouse_marts (dbt, checks, publish, reports) one at\n"
        "# a time, each holding it for the whole run (pipelines/pools.py).\n"
        "concurrency:\n"
        "  runs:\n"
        "    max_concurrent_runs: 2\n"
        "  pools:\n"
        "    granularity: run\n"
        "    default_limit: 1\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
    return path


def dagster_environment(dagster_home: Path, dagster_url: str) -> dict[str, str]:
    """The environment a Dagster process of this platform runs with."""
    return {"DAGSTER_HOME": str(dagster_home), "DAGSTER_PG_URL": dagster_storage_url(dagster_url)}
