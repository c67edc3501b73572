"""``simulate``: simulated events/s through the API ÷ ``authorize``'s rate (goal ≥ 0.5).

Ours: ``cardportal simulate``'s engine (``simulator.engine.Simulation``, its
aiohttp client on an event loop of its own, 8 customers in flight, each
customer's day one chain, onboarding included) against the real API in a
``uvicorn`` process, a fresh seed per repetition; an *event* is every write the world
makes (applications, decisions, authorizations approved or declined, clears,
reversals, refunds, freezes, payments; see ``summary["events"]``); reads and
the daily job's own work are not counted, but their time is. No Stripe
emulator here, so the HTTP world makes no payments. Baseline: authorizations/s
with the bench's lean load client, measured alternately with ours, through the
same API on a database of its own: on the world's database, each baseline
load left thousands of holds on its 100 accounts for the world's next daily
job to expire (a clock advance took up to 5 s), so the simulation was timed
on the baseline's leftovers (2026-12-06: 32 to 51 events/s after a 5-second load
against 102 to 161 without one, same code).

Also measured, in ``extra``: the ``--bulk`` mode (``simulator.inprocess``: the
same world through the services in process, no HTTP) on a database of its
own, and its ratio to the same authorize rate.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import product
from bench.env import CARD_DATA_KEY, NETWORK_KEY, BenchEnv
from bench.harness import Result, median, paired
from bench.load import run_load
from bench.seed import seed_accounts
from simulator.engine import Simulation, SimulationConfig

NAME = "simulate"
ACCOUNTS = 100
ADMIN_EMAIL = "bench-sim-admin@example.com"
ADMIN_PASSWORD = "bench-sim-admin-password"


def _admin(url: str) -> None:
    from api.auth import service as auth_service
    from api.db import make_engine, make_sessionmaker

    engine = make_engine(url, pool_size=1, max_overflow=0)
    with make_sessionmaker(engine)() as session:
        auth_service.register(
            session, email=ADMIN_EMAIL, password=ADMIN_PASSWORD, full_name="Bench admin", role="admin"
        )
        session.commit()
    engine.dispose()


def _config(env: BenchEnv, seed: int, *, base_url: str = "") -> SimulationConfig:
    return SimulationConfig(
        base_url=base_url,
        customers=12 if env.quick else 40,
        days=10 if env.quick else 30,
        seed=seed,
        network_key=NETWORK_KEY,
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        output_dir=Path(env.root / "simulations" / str(seed)),
        workers=8,
        progress=False,
    )


def _events_per_second(simulation: Simulation) -> tuple[float, int]:
    started = time.perf_counter()
    summary = simulation.run()
    elapsed = time.perf_counter() - started
    if not summary["trial_balance"]["balanced"]:
        raise RuntimeError(f"the simulated ledger does not balance: {summary['trial_balance']}")
    return summary["events"] / elapsed, int(summary["events"])


def run(env: BenchEnv) -> Result:
    from simulator.inprocess import InProcessTransport

    url = env.fresh_database("bench_simulate")
    _admin(url)
    authorize_url = env.fresh_database("bench_simulate_authorize")
    seed_accounts(authorize_url, first=1, last=ACCOUNTS)
    workers = int(env.shared.get("workers", 2))  # type: ignore[call-overload]
    events: list[int] = []
    with (
        product.api_server(env, url, workers=workers, name="simulate") as server,
        product.api_server(env, authorize_url, workers=workers, name="simulate-authorize") as loaded,
    ):
        base_url = f"http://{server.host}:{server.port}"

        def ours() -> float:
            rate, count = _events_per_second(Simulation(_config(env, 100 + len(events), base_url=base_url)))
            events.append(count)
            return rate

        def authorize() -> float:
            return run_load(
                loaded.host,
                loaded.port,
                product.authorize(1, ACCOUNTS, seed=len(events)),
                concurrency=product.CONCURRENCY,
                seconds=env.seconds,
            ).rate

        ours_runs, base_runs = paired(ours, authorize, repetitions=env.repetitions)
    bulk_runs: list[float] = []
    for repetition in range(env.repetitions):
        bulk_url = env.fresh_database(f"bench_simulate_bulk{repetition}")
        config = _config(env, 200 + repetition)
        bulk = Simulation(
            config,
            transport=InProcessTransport(config, database_url=bulk_url, card_data_key=CARD_DATA_KEY),
        )
        bulk_runs.append(_events_per_second(bulk)[0])
    authorize_rate = median(base_runs)
    bulk_rate = median(bulk_runs)
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=authorize_rate,
        unit="events/s",
        baseline_name="authorize auth/s",
        goal=0.5,
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=(
            f"HTTP mode, {workers} uvicorn worker(s), 8 customers in flight (aiohttp); "
            f"--bulk: {bulk_rate:,.0f} events/s = {bulk_rate / authorize_rate:.2f} x authorize"
        ),
        extra={
            "events_per_run": events,
            "bulk_events_per_s": bulk_runs,
            "bulk_ratio": bulk_rate / authorize_rate,
        },
    )
