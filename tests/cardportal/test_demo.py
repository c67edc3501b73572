"""``cardportal demo`` end to end: a small world, every partition through the data platform, exit 0."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from cardportal.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SMALL = ["--customers", "4", "--days", "35", "--seed", "7"]  # a few weeks: days and ISO weeks close


def test_demo_runs_the_platform_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DAGSTER_"))}
    for field in Settings.model_fields.values():  # whatever the test process points at
        if field.alias:
            env.pop(field.alias, None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cardportal"), "demo", "--home", str(home), *SMALL],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"report files in {home / 'reports'}" in done.stdout
    assert "ledger reconciliation: every day to the cent" in done.stdout

    summary = json.loads((home / "demo-summary.json").read_text())
    assert summary["runs"][0]["job"] == "daily_job"
    assert all(run["success"] for run in summary["runs"])
    assert summary["reconciliation_differences"] == 0
    # Marts built and published: purchases reached the facts and the daily activity.
    assert summary["marts"]["fct_transactions"] > 0
    assert summary["marts"]["rpt_card_activity_daily"] > 0
    # Every registered report file is on disk with the registered digest; every closed day has one.
    registered = summary["registered"]
    first, last = (date.fromisoformat(d) for d in summary["runs"][0]["partitions"].split(".."))
    assert (last - first).days >= 28  # about 35 simulated days, the open ones excluded
    days = {r["period_start"] for r in registered if r["period"] == "daily"}
    assert days == {str(first + timedelta(days=n)) for n in range((last - first).days + 1)}
    assert {r["period"] for r in registered} >= {"daily", "weekly"}
    for row in registered:
        path = home / "reports" / row["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"], path
