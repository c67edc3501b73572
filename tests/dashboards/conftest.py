"""The dashboards read the marts that the pipeline test builds: the same small world, one run per module.

The world and pipeline fixtures are defined in ``tests/pipelines/conftest.py`` and shared from
here by import, so both packages use one definition.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from dashboards import ui
from tests.conftest import login_password
from tests.factories import PASSWORD, LoggedIn, user_with_role
from tests.pipelines.conftest import Pipeline, dbt_manifest, pipeline

__all__ = ["Dashboards", "analyst", "dashboards", "dbt_manifest", "pipeline", "sign_in"]

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboards" / "app.py"


@dataclass
class Dashboards:
    pipeline: Pipeline
    env: dict[str, str]

    def scalar(self, sql: str, *params: object) -> object:
        with self.pipeline.warehouse() as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]


@pytest.fixture(scope="module")
def dashboards(pipeline: Pipeline, live_server: str) -> Iterator[Dashboards]:
    """The pipeline's warehouse with the weekly and monthly packs written too; the dashboards' env."""
    from dagster import DagsterInstance, materialize

    from cardportal.settings import get_settings
    from pipelines.assets_reports import monthly_finance_pack, weekly_activity_report

    # Every week and month with card activity (the periods the pages offer, closed by the
    # world's last day): which ones depends on the weekday the world started on.
    world = pipeline.world
    with DagsterInstance.ephemeral() as instance:
        for asset, grain in ((weekly_activity_report, "weekly"), (monthly_finance_pack, "monthly")):
            for key in world.activity_periods(grain):
                assert ui.period_end(grain, key) < world.all_days[-1], (grain, key, world.all_days[-1])
                assert materialize(
                    [asset], resources=pipeline.resources, partition_key=key.isoformat(), instance=instance
                ).success
    # Only what `cardportal up` gives the dashboards' process: their own login (never the
    # warehouse owner's URL), the home, the API (issue 21, finding 3).
    from cardportal.warehouse import DASHBOARDS_LOGIN, as_login

    env = {
        "DASHBOARDS_WAREHOUSE_URL": as_login(pipeline.warehouse_url, DASHBOARDS_LOGIN, login_password()),
        "CARDPORTAL_HOME": str(pipeline.home),
        # No Dagster storage in the tests: the page must say so rather than fail.
        "DASHBOARDS_DAGSTER_URL": as_login(
            pipeline.warehouse_url.replace("_warehouse", "_no_dagster"), DASHBOARDS_LOGIN, login_password()
        ),
        # Sign-in goes through the real API (uvicorn on a loopback port).
        "CARDPORTAL_API_URL": live_server,
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield Dashboards(pipeline, env)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


@pytest.fixture
def analyst(api: TestClient, session: Session) -> LoggedIn:
    """A staff member to sign in as (tables are emptied after each test)."""
    return user_with_role(api, session, "analyst")


def sign_in(at: AppTest, email: str, password: str = PASSWORD) -> AppTest:
    """Fill and submit the sign-in form (the app shows nothing else until then)."""
    at.run()
    assert [t.value for t in at.title] == ["Sign in"]
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    return at.button[0].click().run()


def screenshot_folder(config: pytest.Config) -> Path:
    """``$DASHBOARD_SCREENSHOTS``, else ``dashboard-screenshots`` in this run's pytest base temp folder."""
    explicit = os.environ.get("DASHBOARD_SCREENSHOTS")
    if explicit:
        return Path(explicit)
    factory = getattr(config, "_tmp_path_factory")  # noqa: B009 (pytest's own, shared with tmp_path)
    base = Path(factory.getbasetemp())
    # Under xdist each worker's base is <run>/popen-gwN: keep the run's folder, one for all workers.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / "dashboard-screenshots"


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    folder = screenshot_folder(request.config)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say where the browser test left its screenshots (the workers' output is not shown)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    folder = screenshot_folder(config)
    if any(folder.glob("*.png")):
        terminalreporter.write_line(f"dashboard screenshots: {folder}")
