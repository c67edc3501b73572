"""``authorize_p99``: p99 of authorize ÷ p99 of the minimal insert endpoint, same concurrency (goal ≤ 2)."""

from __future__ import annotations

from bench import product
from bench.baselines import minimal_app, minimal_insert
from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.load import run_load
from bench.seed import seed_accounts

NAME = "authorize_p99"
ACCOUNTS = 100


def run(env: BenchEnv) -> Result:
    url = env.fresh_database("bench_authorize_p99")
    seed_accounts(url, first=1, last=ACCOUNTS)
    workers = int(env.shared.get("workers", 2))  # type: ignore[call-overload]
    rates: dict[str, list[float]] = {"ours": [], "baseline": []}
    with (
        product.api_server(env, url, workers=workers, name="authorize_p99") as api,
        minimal_app(env, url, workers=workers) as minimal,
    ):

        def ours() -> float:
            result = run_load(
                api.host,
                api.port,
                product.authorize(1, ACCOUNTS, seed=len(rates["ours"])),
                concurrency=product.CONCURRENCY,
                seconds=env.seconds,
            )
            rates["ours"].append(result.rate)
            return result.p99

        def baseline() -> float:
            result = run_load(
                minimal.host,
                minimal.port,
                minimal_insert,
                concurrency=product.CONCURRENCY,
                seconds=env.seconds,
            )
            rates["baseline"].append(result.rate)
            return result.p99

        ours_runs, base_runs = paired(ours, baseline, repetitions=env.repetitions)
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="ms p99",
        baseline_name="minimal FastAPI insert, ms p99",
        goal=2.0,
        direction="<=",
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{workers} worker(s) each, {product.CONCURRENCY} connections, closed loop",
        extra={"authorize_rps": rates["ours"], "minimal_insert_rps": rates["baseline"]},
    )
