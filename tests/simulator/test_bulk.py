"""A small seeded world through the service layer in process (``--bulk``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from simulator.audit import CHECKS
from simulator.engine import Simulation, SimulationConfig
from simulator.inprocess import InProcessTransport

CARD_DATA_KEY = "5a" * 32


def _run(database_url: str, out: Path, *, customers: int, days: int, seed: int = 11) -> dict:
    config = SimulationConfig(
        base_url="",
        customers=customers,
        days=days,
        seed=seed,
        network_key="",
        admin_email="",
        admin_password="",
        output_dir=out,
        workers=2,
    )
    transport = InProcessTransport(
        config, database_url=database_url, card_data_key=CARD_DATA_KEY, batch_size=8
    )
    return Simulation(config, transport=transport).run()


def _ledger_totals(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("select kind, count(*), sum(amount) from ledger_transfers group by kind order by kind")
        ).all()
    return {
        f"{kind}:{what}": int(value) for kind, n, total in rows for what, value in (("n", n), ("sum", total))
    }


def _empty_platform(engine: Engine) -> None:
    """Every table truncated, the sandbox clock included."""
    with engine.begin() as conn:
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


def test_a_small_bulk_world_has_the_expected_shape(database_url: str, engine: Engine, tmp_path: Path) -> None:
    summary = _run(database_url, tmp_path, customers=20, days=70)
    applications = summary["applications"]
    assert applications.get("approved", 0) > 0
    assert applications.get("declined", 0) + applications.get("manual_review", 0) > 0
    assert summary["statements"] > 0
    assert summary["late_fees"] > 0
    assert summary["payments"].get("succeeded", 0) > 0
    assert summary["refunds"] > 0
    assert summary["reversals"] > 0
    assert summary["authorizations_declined"].get("currency_not_supported", 0) > 0
    assert summary["trial_balance"]["balanced"] is True
    assert summary["daily_job_failures"] == 0
    assert summary["billing_audit"] == dict.fromkeys(CHECKS, 0)
    assert summary["trial_balance"]["total_debits"] == summary["trial_balance"]["total_credits"]
    # The same files as the HTTP mode writes.
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert len(truth) == 70
    assert all(day["billing"] and "counts" in day["billing"][0] for day in truth.values())
    cleared = sum(day["amounts_cents"].get("cleared", 0) for day in truth.values())
    assert cleared == summary["cleared_cents"]
    with engine.connect() as conn:
        posted, payments, fees = conn.execute(
            text(
                "select coalesce(sum(amount) filter (where type = 'purchase' and status = 'posted'), 0),"
                " count(*) filter (where type = 'payment'), count(*) filter (where type = 'fee')"
                " from transactions"
            )
        ).one()
        runs = conn.execute(
            text("select count(*) from billing_runs where finished_at is not null")
        ).scalar_one()
    # The world's figures are the ledger's: purchases cleared, payments succeeded, late fees.
    assert posted == cleared
    assert payments >= summary["payments"]["succeeded"]  # and autopay, which the daily job pays
    assert fees == summary["late_fees"]
    assert runs >= 70  # every simulated day went through the daily job


def test_the_same_seed_makes_the_same_bulk_world(database_url: str, engine: Engine, tmp_path: Path) -> None:
    totals = []
    for attempt in range(2):
        _run(database_url, tmp_path / str(attempt), customers=6, days=40, seed=5)
        totals.append(_ledger_totals(engine))
        _empty_platform(engine)
    assert totals[0] == totals[1]
    assert totals[0]["purchase:n"] > 0


def _billing_figures(engine: Engine) -> list[Any]:
    """The statements, delinquencies and daily-job counts of the world, in a comparable form."""
    with engine.connect() as conn:
        statements = conn.execute(
            text(
                "select u.email, s.period_end, s.closing_balance, s.minimum_payment, s.interest, s.fees,"
                " s.late_fee_amount from statements s join accounts a on a.id = s.account_id"
                " join users u on u.id = a.user_id order by 1, 2"
            )
        ).all()
        delinquency = conn.execute(
            text(
                "select u.email, b.as_of, b.days_past_due, b.past_due_amount from account_billing b"
                " join accounts a on a.id = b.account_id join users u on u.id = a.user_id order by 1"
            )
        ).all()
        runs = conn.execute(text("select day, counts from billing_runs order by day")).all()
    return [statements, delinquency, runs]


def test_the_daily_job_in_processes_makes_the_world_it_makes_in_threads(
    database_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--bulk`` runs the daily job's accounts in a process per core; without them, in threads."""
    # Two cores as far as the simulation knows, so that it starts its processes on any machine.
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    started: list[object] = []
    start_processes = InProcessTransport._start_job_processes

    def spy(self: InProcessTransport) -> object:
        pool = start_processes(self)
        started.append(pool)
        return pool

    monkeypatch.setattr(InProcessTransport, "_start_job_processes", spy)
    worlds = []
    for attempt in range(2):
        _run(database_url, tmp_path / str(attempt), customers=12, days=75, seed=3)
        worlds.append((_ledger_totals(engine), _billing_figures(engine)))
        _empty_platform(engine)
        monkeypatch.setattr(InProcessTransport, "_start_job_processes", lambda _self: None)
    assert started
    assert started[0] is not None
    assert worlds[0][1][0], "statements were issued"
    assert worlds[0] == worlds[1]


@pytest.mark.parametrize("seed", [3, 8])
def test_simulated_worlds_keep_the_money_rules(
    seed: int, database_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Property over whole worlds (issue 20): no late fee where nothing was owed at the due date
    or above what was due, at most one penalty fee per missed minimum, an account whose every
    shown minimum was paid on time is current, and every cycle of every account has exactly one
    statement (``simulator.audit``, written from the rules, not from ``api.billing``). Five
    months, so that misses, refunds, carried past-due amounts and repeat fees all occur."""
    summary = _run(database_url, tmp_path, customers=30, days=150, seed=seed)
    _empty_platform(engine)
    assert summary["late_fees"] > 0  # the rules were exercised, not vacuously true
    assert summary["statements"] > 50
    assert summary["billing_audit"] == dict.fromkeys(CHECKS, 0)
    assert summary["daily_job_failures"] == 0
    assert summary["trial_balance"]["balanced"] is True
