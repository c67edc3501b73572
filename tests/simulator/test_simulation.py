"""A small seeded world through the real HTTP API, with Stripe's emulator and the sandbox clock."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.auth import service as auth_service
from cardportal.stripe_emulator import Emulator
from simulator.engine import Simulation, SimulationConfig
from simulator.inprocess import InProcessTransport
from tests.conftest import NETWORK_KEY
from tests.factories import PASSWORD
from tests.simulator.test_bulk import CARD_DATA_KEY

ADMIN = "sim-admin@example.com"


def _config(
    live_server: str, emulator: Emulator, out: Path, *, customers: int, days: int
) -> SimulationConfig:
    return SimulationConfig(
        base_url=live_server,
        customers=customers,
        days=days,
        seed=11,
        network_key=NETWORK_KEY,
        admin_email=ADMIN,
        admin_password=PASSWORD,
        output_dir=out,
        stripe_api_base=emulator.url,
        stripe_api_key="sk_test_simulator",
        workers=6,
    )


def _admin(session: Session) -> None:
    auth_service.register(session, email=ADMIN, password=PASSWORD, full_name="Sim Admin", role="admin")
    session.commit()


def _ledger_totals(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select kind, count(*), sum(amount) from ledger_transfers group by kind order by kind")
        ).all()
    return {
        f"{kind}:{what}": int(value) for kind, n, total in rows for what, value in (("n", n), ("sum", total))
    }


def test_a_small_world_has_the_expected_shape(
    live_server: str, stripe_sandbox: Emulator, session: Session, engine: Engine, tmp_path: Path
) -> None:
    _admin(session)
    summary = Simulation(_config(live_server, stripe_sandbox, tmp_path, customers=20, days=70)).run()
    print(json.dumps(summary, indent=1))
    applications = summary["applications"]
    assert applications.get("approved", 0) > 0
    assert applications.get("declined", 0) + applications.get("manual_review", 0) > 0
    assert summary["statements"] > 0
    assert summary["payments"].get("succeeded", 0) > 0
    assert summary["late_fees"] > 0
    assert summary["refunds"] > 0
    assert summary["reversals"] > 0
    assert summary["authorizations_declined"].get("currency_not_supported", 0) > 0
    assert summary["trial_balance"]["balanced"] is True
    assert summary["daily_job_failures"] == 0
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert len(truth) == 70
    cleared = sum(day["amounts_cents"].get("cleared", 0) for day in truth.values())
    assert cleared == summary["cleared_cents"]
    # The world's purchases are the ledger's: every cleared cent is a posted purchase.
    with engine.connect() as conn:
        posted = conn.execute(
            text(
                "select coalesce(sum(amount), 0) from transactions"
                " where type = 'purchase' and status = 'posted'"
            )
        ).scalar_one()
    assert posted == cleared


def test_the_same_seed_makes_the_same_world_in_either_mode(
    live_server: str,
    stripe_sandbox: Emulator,
    session: Session,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
) -> None:
    """Through the services in process (``--bulk``, first), then through HTTP: the same ledger."""
    totals = []
    for mode in ("bulk", "http"):
        _admin(session)
        config = _config(live_server, stripe_sandbox, tmp_path / mode, customers=6, days=40)
        if mode == "bulk":
            transport = InProcessTransport(
                config, database_url=database_url, card_data_key=CARD_DATA_KEY, batch_size=4
            )
            Simulation(config, transport=transport).run()
        else:
            Simulation(config).run()
        totals.append(_ledger_totals(engine))
        with engine.begin() as conn:  # an empty platform again, clock included
            tables = (
                conn.execute(
                    text(
                        "select tablename from pg_tables"
                        " where schemaname = 'public' and tablename <> 'alembic_version'"
                    )
                )
                .scalars()
                .all()
            )
            conn.execute(text("truncate " + ", ".join(f'"{t}"' for t in tables) + " cascade"))
        stripe_sandbox.reset()
    assert totals[0] == totals[1]
    assert totals[0]["purchase:n"] > 0
