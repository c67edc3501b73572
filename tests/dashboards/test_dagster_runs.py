"""The Data quality page's read of Dagster's run storage: pooled, as the dashboards' login, and a
dead storage asked once per :data:`dashboards.data.DAGSTER_RETRY_SECONDS`, not on every render."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event

from cardportal.database import database_on_same_server, parse_url
from cardportal.warehouse import DASHBOARDS_LOGIN, as_login, grant_dagster_runs
from dashboards.data import DagsterStorage
from tests.conftest import login_password
from tests.pipelines.conftest import persistent_dagster_home


@pytest.mark.usefixtures("reader_logins")
def test_a_dead_storage_is_tried_once_and_its_failure_shown(server_url: str, database_url: str) -> None:
    missing = f"{parse_url(database_url).database}_no_dagster"
    storage = DagsterStorage(
        as_login(database_on_same_server(server_url, missing), DASHBOARDS_LOGIN, login_password())
    )
    attempts: list[object] = []
    event.listen(storage.engine, "do_connect", lambda *_: attempts.append(None))
    try:
        assert storage.problem() is None
        assert storage.runs(15) is None
        assert storage.runs(15) is None  # the next render: not asked again
        assert len(attempts) == 1
        problem = storage.problem()
        assert problem is not None
        assert missing in problem
    finally:
        storage.engine.dispose()


@pytest.mark.usefixtures("reader_logins")
def test_the_runs_are_read_as_the_dashboards_login(
    server_url: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, job, op

    @op
    def one() -> int:
        return 1

    @job
    def tiny() -> None:
        one()

    home = persistent_dagster_home(server_url, database_url, tmp_path, monkeypatch, suffix="dash_runs")
    with home as owner:
        reader = as_login(owner, DASHBOARDS_LOGIN, login_password())
        storages = [DagsterStorage(reader), DagsterStorage(reader), DagsterStorage(reader)]
        try:
            with DagsterInstance.get() as instance:  # Dagster makes its tables
                assert storages[0].runs(15) is None  # not granted to the dashboards' login yet
                assert "permission denied" in (storages[0].problem() or "")
                assert grant_dagster_runs(owner)
                assert storages[0].runs(15) is None  # the failure is remembered for a while
                runs = storages[1].runs(15)
                assert runs is not None
                assert runs.empty
                done = [tiny.execute_in_process(instance=instance).run_id for _ in range(2)]
            runs = storages[2].runs(15)
            assert runs is not None
            assert list(runs["run_id"]) == done[::-1]  # newest first
            assert set(runs["job"]) == {"tiny"}
            assert set(runs["status"]) == {"SUCCESS"}
        finally:
            for storage in storages:
                storage.engine.dispose()
