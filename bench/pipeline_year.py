"""Build a simulated year through the pipelines, and the extract's rows/s against a plain COPY.

    .venv/bin/python -m bench.pipeline_year [--accounts 100] [--days 365]

The world is written through the operational services in process (the same
code the API runs: authorize, clear, reverse, refund), dated over the past
``--days`` days. Then:

- ``extract``: the transactions extract (COPY out, Polars shaping, delete +
  COPY in per day) against a plain ``COPY (same query) TO STDOUT`` into Polars
  and ``COPY … FROM STDIN`` of the same rows, per day and in one go;
- ``year``: the daily job over every day in one single-run backfill (all
  extracts, dbt build, Great Expectations, publish, 365 daily reports), then
  the monthly finance packs.

Prints a JSON summary; the ratio is ours ÷ baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any


def build_world(database_url: str, *, accounts: int, days: int, first_day: date) -> int:
    from api.accounts import service as accounts_service
    from api.auth import service as auth_service
    from api.cards import service as cards_service
    from api.cards.numbers import CardVault
    from api.db import make_engine, make_sessionmaker
    from api.network import service as network

    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    sessions = make_sessionmaker(engine)
    vault = CardVault("00" * 32)
    rng = random.Random(42)
    cards: list[str] = []
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=8)
    with sessions() as session:
        for n in range(accounts):
            user = auth_service.register(
                session, email=f"bench{n}@example.com", password="bench-password-1", full_name="Bench"
            )
            account = accounts_service.open_account(
                session,
                user_id=user.id,
                application_id=None,
                credit_limit=50_000_00,
                apr_bps=2_499,
                now=start,
            )
            cards.append(cards_service.issue_card(session, account=account, vault=vault, now=start).id)
        session.commit()
    operations = 0
    merchants = [("Corner Cafe", "5812"), ("Fresh Market", "5411"), ("Metro Fuel", "5542"), ("Books", "5942")]
    for day_number in range(days):
        with sessions() as session:
            for index, card in enumerate(cards):
                now = start + timedelta(days=day_number, minutes=index)
                for k in range(3):
                    name, mcc = merchants[rng.randrange(len(merchants))]
                    amount = rng.randrange(300, 9_000)
                    auth = network.authorize(
                        session,
                        card_id=card,
                        amount=amount,
                        currency="USD",
                        merchant_name=name,
                        merchant_mcc=mcc,
                        merchant_country="US",
                        now=now,
                    )
                    operations += 1
                    if not auth.approved:
                        continue
                    if k == 2 and rng.random() < 0.3:
                        network.reverse(session, authorization_id=auth.transaction.id, now=now)
                    else:
                        network.clear(session, authorization_id=auth.transaction.id, amount=amount, now=now)
                        if rng.random() < 0.05:
                            network.refund(
                                session,
                                card_id=card,
                                amount=amount // 2,
                                currency="USD",
                                merchant_name=name,
                                merchant_mcc=mcc,
                                merchant_country="US",
                                authorization_id=auth.transaction.id,
                                now=now,
                            )
                    operations += 1
            session.commit()
    engine.dispose()
    return operations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reuse", type=Path, default=None, help="a folder of an earlier run: skip the world")
    args = parser.parse_args()

    today = datetime.now(UTC).date()
    first_day = today - timedelta(days=args.days)
    last_day = today - timedelta(days=1)
    folder = args.reuse or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    os.environ["PIPELINES_START_DATE"] = first_day.isoformat()
    os.environ["CARDPORTAL_HOME"] = str(folder / "home")

    from psycopg import sql

    from bench.warehouse_world import bench_platform, copy_out_in, daily_job_run
    from cardportal import migrate
    from cardportal.database import database_on_same_server, ensure_databases, start_embedded
    from cardportal.warehouse import ensure_warehouse

    server = start_embedded(folder / "pg")
    ensure_databases(server, ["bench_ops", "bench_wh"])
    operational = database_on_same_server(server, "bench_ops")
    warehouse = database_on_same_server(server, "bench_wh")
    migrate.upgrade(operational)
    ensure_warehouse(warehouse)

    summary: dict[str, Any] = {"accounts": args.accounts, "days": args.days}
    if args.reuse is None:
        started = time.perf_counter()
        summary["world_operations"] = build_world(
            operational, accounts=args.accounts, days=args.days, first_day=first_day
        )
        summary["world_seconds"] = round(time.perf_counter() - started, 1)

    # The extract against a plain COPY of the same rows.
    from pipelines.extract import SPECS_BY_TABLE, day_bounds, extract_day

    platform = bench_platform(operational, warehouse, folder / "home")
    spec = SPECS_BY_TABLE["transactions"]
    days = [first_day + timedelta(days=n) for n in range(args.days)]
    started = time.perf_counter()
    rows = sum(extract_day(platform, spec, day).rows for day in days)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    baseline_rows = 0
    for day in days:
        start, end = day_bounds(day)
        query = sql.SQL(spec.query).format(
            start=sql.Literal(start), end=sql.Literal(end), day=sql.Literal(day)
        )
        baseline_rows += copy_out_in(
            operational, warehouse, query.as_string(), "public.copy_baseline", "raw.transactions"
        )
    per_day_baseline = time.perf_counter() - started
    whole_start, _ = day_bounds(first_day)
    _, whole_end = day_bounds(last_day)
    started = time.perf_counter()
    whole_query = sql.SQL(spec.query).format(
        start=sql.Literal(whole_start), end=sql.Literal(whole_end), day=sql.Literal(last_day)
    )
    whole_rows = copy_out_in(
        operational, warehouse, whole_query.as_string(), "public.copy_baseline", "raw.transactions"
    )
    whole_baseline = time.perf_counter() - started
    summary["extract"] = {
        "rows": rows,
        "ours_rows_per_s": round(rows / ours),
        "plain_copy_same_daily_slices_rows_per_s": round(baseline_rows / per_day_baseline),
        "plain_copy_one_statement_rows_per_s": round(whole_rows / whole_baseline),
        "ratio_vs_same_slices": round((rows / ours) / (baseline_rows / per_day_baseline), 2),
        "ratio_vs_one_statement": round((rows / ours) / (whole_rows / whole_baseline), 2),
    }
    print(json.dumps(summary), flush=True)  # noqa: T201

    # The year through the pipelines: one single-run backfill of the daily job, then the months.
    from dagster import DagsterInstance, materialize

    from cardportal.dagster import dbt_parse
    from pipelines.assets_reports import monthly_finance_pack

    dbt_parse()
    assets, resources = daily_job_run(platform)
    started = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            assets,
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": first_day.isoformat(),
                "dagster/asset_partition_range_end": last_day.isoformat(),
            },
        )
        year_seconds = time.perf_counter() - started
        months = sorted({d.replace(day=1) for d in days if d.replace(day=1) >= first_day})
        started = time.perf_counter()
        for month in months:
            if month.month == today.month and month.year == today.year:
                continue  # the current month is not complete
            materialize(
                [monthly_finance_pack],
                resources=resources,
                partition_key=month.isoformat(),
                instance=instance,
            )
        months_seconds = time.perf_counter() - started
    steps = {
        event.step_key: round(event.event_specific_data.duration_ms / 1000, 1)  # type: ignore[union-attr]
        for event in result.all_events
        if event.event_type_value == "STEP_SUCCESS"
    }
    summary["year"] = {
        "success": result.success,
        "daily_job_backfill_seconds": round(year_seconds, 1),
        "monthly_packs_seconds": round(months_seconds, 1),
        "slowest_steps_seconds": dict(sorted(steps.items(), key=lambda kv: -kv[1])[:6]),
    }
    print(json.dumps(summary, indent=2))  # noqa: T201 (a benchmark prints its result)


if __name__ == "__main__":
    main()
