"""Context, not a goal: the raw ledger transaction beside pgbench's TPC-B-like script."""

from __future__ import annotations

from bench.baselines import pgbench, pgbench_init, prepare_raw_ledger, raw_ledger
from bench.env import BenchEnv
from bench.harness import Result, median, paired

NAME = "raw_ledger"


def run(env: BenchEnv) -> Result:
    url = env.fresh_database("bench_raw")
    prepare_raw_ledger(url)
    pgbench_init(env)
    seconds = env.seconds
    ours, base = paired(
        lambda: raw_ledger(url, seconds=seconds)[0],
        lambda: pgbench(env, seconds=seconds),
        repetitions=env.repetitions,
    )
    return Result(
        name=NAME,
        ours=median(ours),
        baseline=median(base),
        unit="tx/s",
        baseline_name="pgbench TPC-B -c4 -j2, tps",
        goal=None,
        ours_runs=ours,
        baseline_runs=base,
        notes="The raw ledger transaction (psycopg, 4 threads, 100 accounts) against pgbench scale 10.",
    )
