"""Demo data: a modest simulated world on a new sandbox, and the one-shot ``cardportal demo``.

``cardportal up`` seeds a new sandbox database in the background once the API
answers (progress on the terminal); later starts find the data and skip it.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from cardportal.database import with_driver
from cardportal.settings import Settings

DEMO_SEED = 42
DEMO_CUSTOMERS = 40
DEMO_DAYS = 60


def needs_demo_data(settings: Settings, database_url: str) -> bool:
    """A sandbox whose database has no customer yet."""
    if settings.env != "sandbox":
        return False
    engine = create_engine(with_driver(database_url, "psycopg"))
    try:
        with engine.connect() as conn:
            customers: int = conn.execute(
                text("select count(*) from users where role = 'customer'")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(customers) == 0


def run_simulation(
    settings: Settings, base_url: str, *, customers: int, days: int, seed: int, quiet: bool = False
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    from simulator.engine import Simulation, SimulationConfig

    config = SimulationConfig(
        base_url=base_url,
        customers=customers,
        days=days,
        seed=seed,
        network_key=settings.secret("network_api_key"),
        admin_email=settings.first_admin_email or "",
        admin_password=settings.secret("first_admin_password"),
        stripe_api_base=settings.stripe_api_base,
        stripe_api_key=settings.secret("stripe_api_key"),
        output_dir=settings.home / "simulations" / f"seed{seed}",
    )
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if not quiet and (done == total or now - last[0] > 5):
            last[0] = now
            print(f"  demo data: day {done}/{total}", flush=True)

    simulation = Simulation(config, on_day=progress)
    summary = simulation.run()
    return summary, simulation.sample_login


def seed_in_background(settings: Settings, base_url: str) -> threading.Thread:
    """Seed the demo world once the API answers; prints progress and a customer login."""

    def work() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        print(f"  demo data: simulating {DEMO_CUSTOMERS} customers over {DEMO_DAYS} days…", flush=True)
        try:
            summary, login = run_simulation(
                settings, base_url, customers=DEMO_CUSTOMERS, days=DEMO_DAYS, seed=DEMO_SEED
            )
        except Exception as exc:  # the API keeps serving; the user sees why the data is missing
            print(f"  demo data: failed ({exc})", file=sys.stderr, flush=True)
            return
        print(
            f"  demo data: ready — {summary['approved_accounts']} accounts, "
            f"{summary['authorizations_approved']} purchases, {summary['statements']} statements, "
            f"trial balance {'balanced' if summary['trial_balance']['balanced'] else 'NOT balanced'}",
            flush=True,
        )
        if login:
            print(f"  demo customer: {login[0]} / {login[1]}   (web app: {base_url}/app)", flush=True)

    thread = threading.Thread(target=work, name="demo-data", daemon=True)
    thread.start()
    return thread
