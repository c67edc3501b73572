"""``extract``: rows/s of the transactions extract ÷ a raw COPY out and in of the same rows (goal ≥ 0.6).

Ours is what the daily job's ``raw/transactions`` asset does for a range of
days (``extract_days``, one connection to each database), for every day of
the world: ``COPY (the spec's query) TO STDOUT`` into Polars, the spec's
shaping, then in one warehouse transaction delete the day's slice and
``COPY … FROM STDIN``. The baseline moves the same rows with one plain
``COPY`` out into Polars and one ``COPY`` in (no shaping, no per-day
slices): the fastest way PostgreSQL and Polars move them. The per-day plain
COPY (same slices as ours) is reported beside it in ``extra``.
"""

from __future__ import annotations

import time

from psycopg import sql

from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.warehouse_world import copy_out_in, world

NAME = "extract"


def run(env: BenchEnv) -> Result:
    made = world(env)
    from pipelines.extract import SPECS_BY_TABLE, day_bounds, extract_day, extract_days

    platform = made.platform()
    spec = SPECS_BY_TABLE["transactions"]
    # raw.transactions must exist for the baseline's ``like``: one extract first (not timed).
    extract_day(platform, spec, made.days[0])

    def ours() -> float:
        started = time.perf_counter()
        rows = extract_days(platform, spec, made.days).rows
        return rows / (time.perf_counter() - started)

    def query_for(first: object, last: object) -> str:
        start, _ = day_bounds(first)  # type: ignore[arg-type]
        _, end = day_bounds(last)  # type: ignore[arg-type]
        bound = sql.SQL(spec.query).format(
            start=sql.Literal(start), end=sql.Literal(end), day=sql.Literal(last)
        )
        return bound.as_string()

    whole = query_for(made.days[0], made.days[-1])

    def baseline() -> float:
        started = time.perf_counter()
        rows = copy_out_in(
            made.operational_url, made.warehouse_url, whole, "public.copy_baseline", "raw.transactions"
        )
        return rows / (time.perf_counter() - started)

    ours_runs, base_runs = paired(ours, baseline, repetitions=env.repetitions)

    started = time.perf_counter()
    sliced_rows = sum(
        copy_out_in(
            made.operational_url,
            made.warehouse_url,
            query_for(day, day),
            "public.copy_baseline",
            "raw.transactions",
        )
        for day in made.days
    )
    per_day = sliced_rows / (time.perf_counter() - started)
    made.extracted = False  # only transactions were extracted; later benchmarks extract all
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="rows/s",
        baseline_name="plain COPY out+in, rows/s",
        goal=0.6,
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{made.rows:,} transactions over {len(made.days)} daily partitions"
        f"{' (QUICK: fewer than 1M)' if env.quick else ''}; baseline one statement",
        extra={
            "plain_copy_same_daily_slices_rows_per_s": round(per_day),
            "ratio_vs_same_slices": round(median(ours_runs) / per_day, 2),
            "days": len(made.days),
            "last_day": str(made.days[-1]),
            **made.timings,
        },
    )
