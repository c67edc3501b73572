"""Incremental by day equals a full rebuild (issue 22, finding 3).

A world seeded in bulk over many days (``bench.benchmarks.incremental_day.seed_world``:
few accounts, many days, posted purchases with their ledger entries) is extracted day
by day into a warehouse. The big facts are then built incrementally as the daily job
builds them (``dbt run --vars {min_date, max_date}``, then ``publish_marts``): a
backfill of a range, a single day, the rest of the range, then late-arriving rows (a
new version of an old transaction in the last day's slice, a transaction that arrives
late in an old day's slice) and those two days re-run. A copy of the same raw layer is
built once in full (``--full-refresh``) and published. The staged and the published
facts must be equal row for row, byte for byte.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cardportal.database import database_on_same_server, libpq_conninfo, parse_url
from tests.conftest import TEMPLATE_DB
from tests.pipelines.conftest import dbt_cli, raw_fingerprint

DAYS = 120
FACTS = "+fct_transactions +fct_authorizations +fct_payments +int_ledger_movements_daily"


@dataclass
class IncrementalWorld:
    days: list[date]
    operational: str
    warehouse: str
    full: str
    target: Path


def _recreate(admin: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        if template:
            conn.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def incremental_world(
    server_url: str, database_url: str, dbt_manifest: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IncrementalWorld]:
    from bench.benchmarks.incremental_day import seed_world
    from bench.warehouse_world import bench_platform
    from cardportal.warehouse import ensure_warehouse
    from pipelines.extract import SPECS, extract_days, extract_request_log

    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    base = parse_url(database_url).database
    names = {key: f"{base}_inc_{key}" for key in ("ops", "wh", "full")}
    _recreate(admin, names["ops"], TEMPLATE_DB)
    _recreate(admin, names["wh"])
    urls = {key: database_on_same_server(server_url, name) for key, name in names.items()}
    last = datetime.now(UTC).date() - timedelta(days=1)
    days = [last - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]
    seed_world(urls["ops"], accounts=3, per_day=3, days=DAYS, last=last)
    ensure_warehouse(urls["wh"])
    home = tmp_path_factory.mktemp("incremental")
    platform = bench_platform(urls["ops"], urls["wh"], home)
    for spec in SPECS:
        extract_days(platform, spec, days)
    for day in days:
        extract_request_log(platform, day)
    yield IncrementalWorld(days, urls["ops"], urls["wh"], urls["full"], home / "dbt-target")
    for name in names.values():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _dbt(world: IncrementalWorld, url: str, *args: str) -> None:
    done = dbt_cli(url, *args, target=world.target, logs=world.target.parent / "dbt-logs")
    assert done.returncode == 0, done.stdout[-3000:]


def _run(world: IncrementalWorld, url: str, first: date | None, last: date | None) -> None:
    """What the daily job does for ``first``..``last`` (None: a full build): stage the days, build
    the facts, stamp the build, publish (the checks are the pipeline tests' business)."""
    from pipelines.assets_dbt import run_days_vars, stage_days, stamp_marts_build
    from pipelines.assets_publish import publish_marts

    days = [first + timedelta(days=n) for n in range((last - first).days + 1)] if first and last else []
    run_id = str(uuid.uuid4())
    stage_days(url, days)
    build = [
        "build",
        "--select",
        *FACTS.split(),
        "--exclude",
        "resource_type:test",
        "resource_type:unit_test",
    ]
    _dbt(world, url, *build, *(run_days_vars(days) if days else ["--full-refresh"]))
    stamp_marts_build(url, run_id)
    with psycopg.connect(libpq_conninfo(url)) as conn, conn.transaction():
        publish_marts(conn, run_id, swapped=())


def _rows_written(world: IncrementalWorld) -> dict[str, int]:
    """Rows each incremental model inserted in the last dbt invocation (dbt's run_results)."""
    import json

    results = json.loads((world.target / "run_results.json").read_text())["results"]
    return {
        r["unique_id"].split(".")[-1]: int(r["adapter_response"].get("rows_affected", -1))
        for r in results
        if r["unique_id"].split(".")[-1]
        in {"fct_transactions", "fct_authorizations", "fct_payments", "int_ledger_movements_daily"}
    }


def _facts(url: str) -> dict[str, dict[str, tuple[int, str]]]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        return {
            schema: {
                k: v for k, v in raw_fingerprint(conn, schema).items() if not k.startswith("cardportal_")
            }
            for schema in ("marts", "marts_staging", "intermediate")
        }


def test_incremental_by_day_equals_a_full_rebuild(incremental_world: IncrementalWorld) -> None:
    world = incremental_world
    d = world.days
    _run(world, world.warehouse, d[0], d[59])  # a backfill of two months, as one run
    _run(world, world.warehouse, d[60], d[60])  # one day
    assert _rows_written(world) == {  # the day's keys only, not the history
        "fct_transactions": 3,
        "fct_authorizations": 3,
        "fct_payments": 0,
        "int_ledger_movements_daily": 1,
    }
    _run(world, world.warehouse, d[61], d[-1])  # the rest
    with psycopg.connect(libpq_conninfo(world.warehouse)) as conn:
        late: Any = conn.execute(
            "select id from raw.transactions where _partition_date = %s order by id limit 1", (d[10],)
        ).fetchone()
        # A newer version of a day-10 purchase (reversed) arrives in the last day's slice...
        conn.execute(
            "insert into raw.transactions select id, account_id, card_id, type, 'reversed', amount, "
            "authorized_amount, currency, merchant_name, merchant_mcc, merchant_country, decline_code, "
            "closed_reason, original_transaction_id, refunded_amount, hold_transfer_id, posting_transfer_id, "
            "created_at, posted_at, resolved_at, %s from raw.transactions where id = %s",
            (d[-1], late[0]),
        )
        # ...and a purchase that reached the day-20 slice late (that day's extract re-run).
        conn.execute(
            "insert into raw.transactions select 'txn_late_arrival', account_id, card_id, type, status, 777, "
            "777, currency, merchant_name, merchant_mcc, merchant_country, decline_code, closed_reason, "
            "original_transaction_id, refunded_amount, hold_transfer_id, posting_transfer_id, "
            "created_at, posted_at, resolved_at, _partition_date from raw.transactions "
            "where _partition_date = %s order by id limit 1",
            (d[20],),
        )
        conn.commit()
    _run(world, world.warehouse, d[-1], d[-1])  # the last day re-run: the new version
    _run(world, world.warehouse, d[20], d[20])  # an old day re-run: the late arrival
    _run(world, world.warehouse, d[20], d[20])  # and again: nothing changes

    admin = libpq_conninfo(database_on_same_server(world.warehouse, "postgres"))
    _recreate(admin, parse_url(world.full).database, parse_url(world.warehouse).database)
    with psycopg.connect(libpq_conninfo(world.full), autocommit=True) as conn:
        for schema in ("marts", "marts_staging", "intermediate"):
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
        conn.execute("create schema marts")
    _run(world, world.full, None, None)

    incremental, full = _facts(world.warehouse), _facts(world.full)
    assert set(full["marts"]) == {"fct_transactions", "fct_authorizations", "fct_payments"}
    assert incremental == full
    with psycopg.connect(libpq_conninfo(world.warehouse)) as conn:
        changed = conn.execute(
            "select status from marts.fct_transactions where transaction_id = %s", (late[0],)
        ).fetchone()
        arrived = conn.execute(
            "select amount_cents from marts.fct_transactions where transaction_id = 'txn_late_arrival'"
        ).fetchone()
        published = [r[0] for r in conn.execute("select day from reporting.published_days order by 1")]
    assert changed == ("reversed",)
    assert arrived == (777,)
    assert published == d
