"""``auth_clear``: authorize + clear pairs/s through the API ÷ the raw ledger transaction (goal ≥ 0.25)."""

from __future__ import annotations

from bench import product
from bench.baselines import prepare_raw_ledger, raw_ledger
from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.load import run_load
from bench.seed import seed_accounts

NAME = "auth_clear"
ACCOUNTS = 100


def run(env: BenchEnv) -> Result:
    url = env.fresh_database("bench_auth_clear")
    seed_accounts(url, first=1, last=ACCOUNTS)
    prepare_raw_ledger(url)
    workers = int(env.shared.get("workers", 2))  # type: ignore[call-overload]
    errors: list[int] = []
    with product.api_server(env, url, workers=workers, name="auth_clear") as server:

        def ours() -> float:
            result = run_load(
                server.host,
                server.port,
                product.authorize_and_clear(1, ACCOUNTS, seed=len(errors)),
                concurrency=product.CONCURRENCY,
                seconds=env.seconds,
            )
            errors.append(result.errors)
            return result.rate

        ours_runs, base_runs = paired(
            ours, lambda: raw_ledger(url, seconds=env.seconds)[0], repetitions=env.repetitions
        )
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="pairs/s",
        baseline_name="raw ledger tx/s",
        goal=0.25,
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{workers} worker(s), {product.CONCURRENCY} connections, {ACCOUNTS} accounts",
        extra={"errors": errors},
    )
