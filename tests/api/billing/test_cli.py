"""`cardportal ops run-day`: the same catch-up as the clock, from the command line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.billing.models import BillingRun, Statement
from cardportal import cli
from cardportal.settings import get_settings
from tests.api.billing.helpers import at, move_clock_to, purchase
from tests.conftest import keep_login_passwords
from tests.factories import open_card_account


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CARDPORTAL_HOME", str(keep_login_passwords(tmp_path / "home")))
    monkeypatch.setenv("CARDPORTAL_ENV", "sandbox")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_run_day_catches_up_and_is_idempotent(
    cli_env: None, app: FastAPI, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    move_clock_to(app, at(2030, 3, 2))
    _, _, card_id = open_card_account(session, app, credit_limit=1_000_00)
    purchase(session, card_id, 80_00, app.state.clock.now())
    move_clock_to(app, at(2030, 4, 5))  # the clock alone: nothing has run yet

    assert cli.main(["ops", "run-day", "--date", "2030-04-02"]) == 0
    out = capsys.readouterr().out
    assert "2030-03-02 ran" in out
    assert "2030-04-02 ran" in out
    assert session.execute(select(func.count()).select_from(BillingRun)).scalar_one() == 32
    assert session.execute(select(Statement.purchases)).scalars().all() == [80_00]

    assert cli.main(["ops", "run-day"]) == 0  # through yesterday: 04-03 and 04-04
    assert "2030-04-04 ran" in capsys.readouterr().out
    assert cli.main(["ops", "run-day", "--date", "2030-04-04"]) == 0
    assert "nothing to run" in capsys.readouterr().out
    today = app.state.clock.today()
    assert cli.main(["ops", "run-day", "--date", today.isoformat()]) == 2
    assert "day_not_over" in capsys.readouterr().err
    assert session.execute(select(func.max(BillingRun.day))).scalar_one() == today - timedelta(days=1)
