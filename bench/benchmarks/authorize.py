"""``authorize``: authorizations/s through the HTTP API ÷ the raw ledger transaction (goal ≥ 0.5).

Every request carries the network key and a fresh Idempotency-Key, writes an
access-log line and runs every check; 100 accounts, load spread at random.
The uvicorn worker count is chosen here by measurement (1 against 2) and
reused by the other HTTP benchmarks.
"""

from __future__ import annotations

from bench import product
from bench.baselines import prepare_raw_ledger, raw_ledger
from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.load import LoadResult, run_load
from bench.seed import seed_accounts

NAME = "authorize"
ACCOUNTS = 100


def choose_workers(env: BenchEnv, url: str) -> tuple[int, dict[str, float]]:
    """Authorize throughput with 1 and 2 uvicorn workers; the better count and the trial figures."""
    trials: dict[str, float] = {}
    for workers in (1, 2):
        with product.api_server(env, url, workers=workers, name=f"authorize-w{workers}") as server:
            figures = [
                run_load(
                    server.host,
                    server.port,
                    product.authorize(1, ACCOUNTS, seed=workers * 10 + i),
                    concurrency=product.CONCURRENCY,
                    seconds=env.seconds / 2,
                ).rate
                for i in range(2)
            ]
        trials[str(workers)] = median(figures)
    best = max(trials, key=lambda k: trials[k])
    return int(best), trials


def run(env: BenchEnv) -> Result:
    url = env.fresh_database("bench_authorize")
    seed_accounts(url, first=1, last=ACCOUNTS)
    prepare_raw_ledger(url)
    workers, trials = choose_workers(env, url)
    env.shared["workers"] = workers
    loads: list[LoadResult] = []
    with product.api_server(env, url, workers=workers, name="authorize") as server:

        def ours() -> float:
            result = run_load(
                server.host,
                server.port,
                product.authorize(1, ACCOUNTS, seed=len(loads)),
                concurrency=product.CONCURRENCY,
                seconds=env.seconds,
            )
            loads.append(result)
            return result.rate

        ours_runs, base_runs = paired(
            ours, lambda: raw_ledger(url, seconds=env.seconds)[0], repetitions=env.repetitions
        )
    env.shared["authorize_rate"] = median(ours_runs)
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="auth/s",
        baseline_name="raw ledger tx/s",
        goal=0.5,
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{workers} uvicorn worker(s), {product.CONCURRENCY} connections, {ACCOUNTS} accounts",
        extra={
            "workers": workers,
            "worker_trials": trials,
            "p50_ms": [round(x.p50, 2) for x in loads],
            "p99_ms": [round(x.p99, 2) for x in loads],
            "errors": [x.errors for x in loads],
            "first_error": next((x.first_error for x in loads if x.first_error), None),
        },
    )
