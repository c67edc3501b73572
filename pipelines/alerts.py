"""Someone is told (issue 22, finding 4): alerts on failed runs, failed checks and stale marts.

- ``alert_on_run_failure``: a run failure sensor over every job of this code location.
- ``alert_on_failed_checks``: reads the instance's asset check evaluations after its cursor
  (a storage id) and alerts once per failed one: the blocking Great Expectations checks, the
  dbt tests, ``dbt source freshness`` (pipelines/source_freshness.py) and the freshness checks below.
- ``report_marts_freshness``: last-update freshness checks on the marts the report files read
  (the dbt exposures of the reports say which) and on ``published_marts``, with
  ``report_marts_freshness_sensor`` to evaluate them; their failures reach
  ``alert_on_failed_checks`` like any other check's.

Every alert goes through :func:`cardportal.notify.notify` (e-mail, webhook, the sandbox outbox);
all three sensors run by default. A delivery that fails fails the run sensor's tick, or stops the
check sensor's batch before that evaluation, so the next tick tries it again (at least once).
"""

import json
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetChecksDefinition,
    AssetKey,
    ConfigurableResource,
    DagsterEvent,
    DagsterEventType,
    DefaultSensorStatus,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
    run_failure_sensor,
    sensor,
)

from cardportal.notify import AlertChannels, AlertDeliveryError, notify
from pipelines.assets_dbt import dbt_manifest
from pipelines.partitions import _setting

SANDBOX = _setting("env") == "sandbox"
REPORT_ASSETS = ("daily_activity_report", "weekly_activity_report", "monthly_finance_pack")
CHECK_BATCH = 200
FIRST_TICK_LOOKBACK_SECONDS = 24 * 3600


class AlertsResource(ConfigurableResource):  # type: ignore[type-arg]
    """Where alerts go. Empty: from cardportal's settings (SMTP_URL, ALERT_*, the sandbox outbox)."""

    outbox: str = ""
    smtp_url: str = ""
    email_from: str = "cardportal-alerts@localhost"
    email_to: list[str] = []
    webhook_url: str = ""

    def channels(self) -> AlertChannels:
        if not (self.outbox or self.smtp_url or self.webhook_url):
            from cardportal.settings import get_settings

            return AlertChannels.from_settings(get_settings())
        return AlertChannels(
            outbox=Path(self.outbox) if self.outbox else None,
            smtp_url=self.smtp_url or None,
            email_from=self.email_from,
            email_to=tuple(self.email_to),
            webhook_url=self.webhook_url or None,
        )


# Runs ------------------------------------------------------------------------------------------


def _root_error(event: DagsterEvent) -> str:
    """The innermost error of a step failure (Dagster wraps the asset's own in its own)."""
    error = event.step_failure_data.error
    while error is not None and error.cause is not None:
        error = error.cause
    return error.message.strip() if error is not None else ""


@run_failure_sensor(
    name="alert_on_run_failure",
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts (e-mail, webhook, sandbox outbox) once for every failed run of this code location.",
)
def alert_on_run_failure(context: RunFailureSensorContext, alerts: AlertsResource) -> None:
    run = context.dagster_run
    partition = run.tags.get("dagster/partition") or "..".join(
        filter(
            None,
            (
                run.tags.get("dagster/asset_partition_range_start"),
                run.tags.get("dagster/asset_partition_range_end"),
            ),
        )
    )
    steps = {event.step_key or "?": _root_error(event) for event in context.get_step_failure_events()}
    subject = f"Run failed: {run.job_name}" + (f" ({partition})" if partition else "")
    lines = [context.failure_event.message or "The run failed."]
    lines += [
        f"- step {step}: {message.splitlines()[0] if message else 'failed'}"
        for step, message in steps.items()
    ]
    notify(
        alerts.channels(),
        subject=subject,
        body="\n".join(lines),
        details={
            "kind": "run_failure",
            "run_id": run.run_id,
            "job": run.job_name,
            "partition": partition or None,
            "failed_steps": sorted(steps),
        },
    )


# Checks ----------------------------------------------------------------------------------------


def _check_alert(evaluation: AssetCheckEvaluation, run_id: str) -> tuple[str, str, dict[str, Any]]:
    asset = evaluation.asset_key.to_user_string()
    severity = evaluation.severity.value
    metadata = {key: getattr(value, "value", value) for key, value in evaluation.metadata.items()}
    subject = f"Check failed ({severity}): {evaluation.check_name} on {asset}"
    body = evaluation.description or f"The check {evaluation.check_name} on {asset} did not pass."
    details = {
        "kind": "check_failure",
        "asset": asset,
        "check": evaluation.check_name,
        "severity": severity,
        "blocking": bool(evaluation.blocking),
        "run_id": run_id,
        "metadata": json.loads(json.dumps(metadata, default=str)),
    }
    return subject, body, details


@sensor(
    name="alert_on_failed_checks",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Alerts once for every failed asset check (Great Expectations, dbt tests, source freshness, "
        "freshness of the report marts), reading check evaluations after its cursor."
    ),
)
def alert_on_failed_checks(context: SensorEvaluationContext, alerts: AlertsResource) -> SensorResult:
    after = int(context.cursor) if context.cursor else None
    records = context.instance.event_log_storage.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after),
        limit=CHECK_BATCH,
        ascending=True,
    )
    cursor, sent = after, 0
    # The first tick (no cursor yet) tells of the last day only, not of an instance's whole past.
    since = time.time() - FIRST_TICK_LOOKBACK_SECONDS if after is None else 0.0
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.asset_check_evaluation_data if event else None
        if evaluation is not None and not evaluation.passed and record.timestamp >= since:
            subject, body, details = _check_alert(evaluation, record.run_id)
            try:
                notify(alerts.channels(), subject=subject, body=body, details=details)
            except AlertDeliveryError as error:
                # Keep the cursor before this evaluation: the next tick tries it again.
                context.log.error(f"{subject}: {error}")
                break
            sent += 1
        cursor = record.storage_id
    if cursor is None or cursor == after:
        return SensorResult(skip_reason="no new check evaluations", cursor=context.cursor)
    return SensorResult(
        skip_reason=f"{sent} alert(s) sent" if sent else "no failed checks", cursor=str(cursor)
    )


# Freshness of the marts the report files read ------------------------------------------------


def report_mart_keys(manifest: Mapping[str, Any] | None = None) -> list[AssetKey]:
    """The marts the report assets read, from the reports' dbt exposures (meta.dagster_asset)."""
    manifest = manifest if manifest is not None else dbt_manifest()
    names = {
        node.split(".")[-1]
        for exposure in manifest["exposures"].values()
        if exposure.get("meta", {}).get("dagster_asset") in REPORT_ASSETS
        for node in exposure["depends_on"]["nodes"]
        if node.startswith("model.")
    }
    return [AssetKey(["marts", name]) for name in sorted(names)]


def _freshness_checks() -> Sequence[AssetChecksDefinition]:
    keys = [*report_mart_keys(), AssetKey("published_marts")]
    # Production: the daily job runs at 02:00 UTC, so by 05:00 the marts were built since 02:00.
    # Sandbox: days close when the simulator says, so only "built within the last 26 hours".
    with warnings.catch_warnings():
        # Superseded by FreshnessPolicy, which would have to be set on the dbt assets' specs
        # (pipelines/assets_dbt.py) and is not an asset check; these checks fail as checks do,
        # so the sensor above alerts on them like on any other.
        warnings.simplefilter("ignore")
        if SANDBOX:
            return build_last_update_freshness_checks(assets=keys, lower_bound_delta=timedelta(hours=26))
        return build_last_update_freshness_checks(
            assets=keys, lower_bound_delta=timedelta(hours=3), deadline_cron="0 5 * * *", timezone="UTC"
        )


report_marts_freshness = _freshness_checks()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # superseded, as above
    report_marts_freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=report_marts_freshness,
        name="report_marts_freshness_sensor",
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.RUNNING,
    )
alert_sensors = [alert_on_run_failure, alert_on_failed_checks, report_marts_freshness_sensor]
