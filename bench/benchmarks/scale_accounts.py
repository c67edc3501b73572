"""``scale_accounts``: authorize throughput with 100,000 accounts ÷ with 100 (spread load; goal ≥ 0.8).

Three databases (100, 10,000 and 100,000 seeded accounts, see bench/seed.py
for why they are bulk-loaded) each behind its own API; repetitions rotate
through them so a neighbour's load falls on all alike. The middle size gives
the cost curve in the README.
"""

from __future__ import annotations

from contextlib import ExitStack

from bench import product
from bench.env import BenchEnv, Server
from bench.harness import Result, median
from bench.load import run_load
from bench.seed import seed_accounts

NAME = "scale_accounts"
SIZES = (100, 10_000, 100_000)


def run(env: BenchEnv) -> Result:
    workers = int(env.shared.get("workers", 2))  # type: ignore[call-overload]
    runs: dict[int, list[float]] = {size: [] for size in SIZES}
    with ExitStack() as stack:
        servers: dict[int, Server] = {}
        for size in SIZES:
            url = env.fresh_database(f"bench_scale_{size}")
            seed_accounts(url, first=1, last=size)
            servers[size] = stack.enter_context(
                product.api_server(env, url, workers=workers, name=f"scale-{size}")
            )
        for rep in range(env.repetitions):
            for size in SIZES:
                server = servers[size]
                runs[size].append(
                    run_load(
                        server.host,
                        server.port,
                        product.authorize(1, size, seed=rep),
                        concurrency=product.CONCURRENCY,
                        seconds=env.seconds,
                    ).rate
                )
    curve = {str(size): median(runs[size]) for size in SIZES}
    env.shared["scale_curve"] = curve
    return Result(
        name=NAME,
        ours=median(runs[SIZES[-1]]),
        baseline=median(runs[SIZES[0]]),
        unit="auth/s",
        baseline_name="auth/s with 100 accounts",
        goal=0.8,
        ours_runs=runs[SIZES[-1]],
        baseline_runs=runs[SIZES[0]],
        notes=f"{workers} worker(s), {product.CONCURRENCY} connections, cards drawn uniformly",
        extra={"curve": curve, "runs": {str(k): v for k, v in runs.items()}},
    )
