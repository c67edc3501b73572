"""Someone is told (issue 22, finding 4): failed runs, failed checks, stale marts, a stale source.

Each sensor is evaluated against a real (temporary, persistent) Dagster instance holding the
events of real runs; the alerts land in a real outbox, SMTP server and webhook.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    SensorResult,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from cardportal.notify import outbox_path, read_outbox
from pipelines.alerts import (
    AlertsResource,
    alert_on_failed_checks,
    alert_on_run_failure,
    report_mart_keys,
    report_marts_freshness,
)
from tests.alert_servers import Mailbox, smtp_server, webhook_server
from tests.pipelines.conftest import Pipeline, persistent_dagster_home

pytestmark = pytest.mark.xdist_group("pipeline")


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    """A persistent instance whose event log is one table, as the platform's PostgreSQL one is
    (the default test instance shards it per run, which a cursor over all runs cannot read)."""
    events = {
        "module": "dagster._core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path / "events")},
    }
    with instance_for_test(overrides={"event_log_storage": events}) as instance:
        yield instance


def check_alerts(instance: DagsterInstance, alerts: AlertsResource, cursor: str | None) -> str | None:
    """One tick of the failed-check sensor; its new cursor."""
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"alerts": alerts})
    result = alert_on_failed_checks(context)
    assert isinstance(result, SensorResult)
    return result.cursor


def run_freshness_checks(instance: DagsterInstance) -> list[Any]:
    """What the freshness sensor launches: the checks alone, on the marts' last updates."""
    result = materialize(
        report_marts_freshness, instance=instance, selection=AssetSelection.all_asset_checks()
    )
    return list(result.get_asset_check_evaluations())


def test_a_failed_run_alerts_once_by_email_webhook_and_outbox(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    @asset(group_name="test")
    def breaks() -> None:
        raise RuntimeError("the warehouse went away")

    result = materialize([breaks], instance=instance, raise_on_error=False, partition_key=None)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None
    [failure] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
    smtp: tuple[str, Mailbox]
    with smtp_server() as smtp, webhook_server() as (url, received):
        alerts = AlertsResource(
            outbox=str(outbox_path(tmp_path)),
            smtp_url=smtp[0],
            email_to=["oncall@cardportal.test"],
            webhook_url=url,
        )
        assert failure.dagster_event is not None
        context = build_run_status_sensor_context(
            sensor_name="alert_on_run_failure",
            dagster_event=failure.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
            resources={"alerts": alerts},
        ).for_run_failure()
        alert_on_run_failure(context)
    [line] = read_outbox(tmp_path)
    assert line["subject"] == f"Run failed: {run.job_name}"
    assert line["details"]["failed_steps"] == ["breaks"]
    assert "the warehouse went away" in line["body"]
    [posted] = received
    assert posted["details"]["run_id"] == result.run_id
    [email] = smtp[1].messages
    assert email.rcpt_tos == ["oncall@cardportal.test"]


def test_stale_report_marts_fail_their_freshness_checks_and_alert_once(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    keys = report_mart_keys()
    assert {k.path[-1] for k in keys} >= {
        "rpt_card_activity_daily",
        "rpt_receivables_daily",
        "rpt_finance_monthly",
    }
    alerts = AlertsResource(outbox=str(outbox_path(tmp_path)))
    # Never built: every mart a report reads, and the published schema, are overdue.
    overdue = run_freshness_checks(instance)
    assert overdue
    assert not any(e.passed for e in overdue)
    cursor = check_alerts(instance, alerts, None)
    stale = read_outbox(tmp_path, limit=100)
    assert {a["details"]["asset"] for a in stale} == {k.to_user_string() for k in keys} | {"published_marts"}
    assert {a["details"]["check"] for a in stale} == {"freshness_check"}
    # A second tick tells nobody twice.
    assert check_alerts(instance, alerts, cursor) == cursor
    assert len(read_outbox(tmp_path, limit=100)) == len(stale)
    # Built now: the checks pass and nobody is told.
    for key in [*keys, AssetKey("published_marts")]:
        instance.report_runless_asset_event(AssetMaterialization(key))
    fresh = run_freshness_checks(instance)
    assert len(fresh) == len(overdue)
    assert all(e.passed for e in fresh)
    check_alerts(instance, alerts, cursor)
    assert len(read_outbox(tmp_path, limit=100)) == len(stale)


def _source_freshness(pipeline: Pipeline, instance: DagsterInstance) -> dict[str, Any]:
    from pipelines.assets_extract import extract_assets
    from pipelines.source_freshness import dbt_source_freshness

    result = materialize(
        [*extract_assets, dbt_source_freshness],
        selection=AssetSelection.checks(dbt_source_freshness),
        resources=pipeline.resources,
        instance=instance,
        raise_on_error=False,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_stale_source_fails_source_freshness_and_alerts(
    pipeline: Pipeline, tmp_path: Path, instance: DagsterInstance
) -> None:
    alerts = AlertsResource(outbox=str(outbox_path(tmp_path)))
    # The world's transactions are fresh: the check passes and nobody is told.
    fresh = _source_freshness(pipeline, instance)
    assert fresh["dbt_source_freshness_transactions"].passed
    cursor = check_alerts(instance, alerts, None)
    assert read_outbox(tmp_path) == []
    # No fresh extract: the newest transaction is 400 days old.
    with pipeline.warehouse() as conn:
        conn.execute("update raw.transactions set created_at = created_at - interval '400 days'")
        conn.commit()
    try:
        stale = _source_freshness(pipeline, instance)
    finally:
        with pipeline.warehouse() as conn:
            conn.execute("update raw.transactions set created_at = created_at + interval '400 days'")
            conn.commit()
    evaluation = stale["dbt_source_freshness_transactions"]
    assert not evaluation.passed
    assert evaluation.metadata["status"].value == "error"
    check_alerts(instance, alerts, cursor)
    [alert] = read_outbox(tmp_path)
    assert alert["details"]["check"] == "dbt_source_freshness_transactions"
    assert alert["details"]["asset"] == "raw/transactions"
    assert alert["details"]["severity"] == "ERROR"


def test_a_planted_bad_row_fails_the_blocking_check_and_alerts(
    pipeline: Pipeline, tmp_path: Path, instance: DagsterInstance
) -> None:
    from tests.pipelines.conftest import daily_selection

    day = pipeline.world.days[1]
    account = pipeline.world.accounts[0]
    with pipeline.warehouse() as conn:
        conn.execute(
            "insert into raw.transactions (id, account_id, type, status, amount, authorized_amount, "
            "currency, merchant_name, merchant_mcc, merchant_country, refunded_amount, created_at, "
            "posted_at, _partition_date) values ('auth_alerted', %s, 'purchase', 'posted', 1, 1, 'USD', "
            "'Ghost', '5411', 'US', 0, %s::date + time '12:00', %s::date + time '12:00', %s)",
            (account, day, day, day),
        )
        conn.commit()
    try:
        selection = daily_selection()[len(daily_selection()) - 5 :]  # dbt onwards, as in test_pipeline_run
        result = materialize(
            selection,
            resources=pipeline.resources,
            partition_key=day.isoformat(),
            instance=instance,
            raise_on_error=False,
        )
    finally:
        with pipeline.warehouse() as conn:
            conn.execute("delete from raw.transactions where id = 'auth_alerted'")
            conn.commit()
    assert not result.success
    with webhook_server() as (url, received):
        alerts = AlertsResource(outbox=str(outbox_path(tmp_path)), webhook_url=url)
        cursor = check_alerts(instance, alerts, None)
        assert check_alerts(instance, alerts, cursor) == cursor  # once only
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        [failure] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_FAILURE)
        assert failure.dagster_event is not None
        alert_on_run_failure(
            build_run_status_sensor_context(
                sensor_name="alert_on_run_failure",
                dagster_event=failure.dagster_event,
                dagster_instance=instance,
                dagster_run=run,
                resources={"alerts": alerts},
            ).for_run_failure()
        )
    outbox = read_outbox(tmp_path, limit=100)
    checks = [a["details"] for a in outbox if a["details"]["kind"] == "check_failure"]
    # One alert for each check the run failed, no more: the blocking reconciliation among them
    # (and the roll-forward and dbt's own tests that the cent also breaks).
    failed = [
        (e.check_name, e.asset_key.to_user_string())
        for e in result.get_asset_check_evaluations()
        if not e.passed
    ]
    assert sorted((c["check"], c["asset"]) for c in checks) == sorted(failed)
    gate = [c for c in checks if c["check"] == "great_expectations_rpt_ledger_reconciliation"]
    assert [(c["asset"], c["blocking"], c["severity"]) for c in gate] == [
        ("marts/rpt_ledger_reconciliation", True, "ERROR")
    ]
    runs = [a for a in outbox if a["details"]["kind"] == "run_failure"]
    assert [r["details"]["partition"] for r in runs] == [day.isoformat()]
    assert len(received) == len(outbox)


def test_the_check_sensor_reads_the_platforms_postgres_event_log(
    server_url: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's instance keeps its event log in PostgreSQL (cardportal/warehouse.py): the
    sensor's cursor over every run's check evaluations works there, as in test_instance.py."""
    with persistent_dagster_home(server_url, database_url, tmp_path, monkeypatch, suffix="alerts"):
        alerts = AlertsResource(outbox=str(outbox_path(tmp_path)))
        with DagsterInstance.get() as instance:
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            overdue = run_freshness_checks(instance)
            cursor = check_alerts(instance, alerts, None)
            assert check_alerts(instance, alerts, cursor) == cursor
        assert len(read_outbox(tmp_path, limit=100)) == len(overdue) > 0
