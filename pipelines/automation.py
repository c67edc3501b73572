"""Jobs, schedules (production cadence) and sensors.

- ``daily_job``: extract the day (or a range of days as one run), build and check the marts,
  publish, write the daily report.
- ``weekly_job`` / ``monthly_job``: the weekly report and the monthly finance pack.
- ``snapshot_job``: the accounts snapshot (``snp_accounts``), on its own cadence: it records
  the state it finds, so it is no part of a day's partition (a backfill must not record today's
  state under old days).
- Schedules (running by default in production): daily at 02:00 UTC for the previous day; the
  snapshot at 02:30 UTC.
- ``published_periods_sensor`` (running by default, both modes): launches the weekly report
  and the monthly pack once every day of the week or month is published
  (``reporting.published_days``), and again when one of its days is published again (a
  corrected day re-run: the report files follow the marts). It replaces weekly and monthly
  schedules, which fired at a fixed hour whether or not the period's last day was published yet.
- ``closed_days_sensor`` (running by default in sandbox): launches the days the platform has
  closed since its last tick as **one** run (a single-run backfill of the range, at most
  ``MAX_DAYS_PER_TICK`` days), then a snapshot. It reads the last closed day through
  :func:`pipelines.clock.last_closed_day` (billing_runs once the billing branch is merged).

Runs that build or read the marts hold pool ``warehouse_marts`` (:mod:`pipelines.pools`), so
queued daily runs build and publish one at a time, in the order they were queued.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    build_schedule_from_partitioned_job,
    define_asset_job,
    sensor,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from pipelines.partitions import _setting

SANDBOX = _setting("env") == "sandbox"

daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.groups("extract", "staging", "intermediate", "marts")
    | AssetSelection.assets("daily_activity_report"),
    description="One business day: extract, dbt build, Great Expectations checks, publish, daily report.",
)
weekly_job = define_asset_job("weekly_job", selection=AssetSelection.assets("weekly_activity_report"))
monthly_job = define_asset_job("monthly_job", selection=AssetSelection.assets("monthly_finance_pack"))
snapshot_job = define_asset_job(
    "snapshot_job",
    selection=AssetSelection.groups("snapshots"),
    description="The accounts snapshot: each account's limit and status as last extracted, recorded now.",
)

_production = DefaultScheduleStatus.STOPPED if SANDBOX else DefaultScheduleStatus.RUNNING
schedules = [
    build_schedule_from_partitioned_job(daily_job, hour_of_day=2, default_status=_production),
    ScheduleDefinition(
        name="snapshot_job_schedule",
        job=snapshot_job,
        cron_schedule="30 2 * * *",
        execution_timezone="UTC",
        default_status=_production,
        description="After the daily extract: the accounts as they are now.",
    ),
]

MAX_DAYS_PER_TICK = 31
MAX_PERIODS_PER_TICK = 8
# On the weekly and monthly runs the sensor launches: when their period's days were last published.
PERIOD_VERSION_TAG = "cardportal/published_version"


def range_tags(first: date, last: date) -> dict[str, str]:
    """The tags of a single-run backfill of ``first``..``last`` (the assets' BackfillPolicy)."""
    return {
        ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
    }


def closed_day_requests(
    last_launched: date | None, last_closed: date, first_day: date
) -> tuple[list[RunRequest], date]:
    """One daily run for the days after ``last_launched`` up to ``last_closed`` (at most
    ``MAX_DAYS_PER_TICK``), then a snapshot; the new cursor."""
    start = max(first_day, (last_launched + timedelta(days=1)) if last_launched else first_day)
    cursor = last_launched or (first_day - timedelta(days=1))
    if start > last_closed:
        return [], cursor
    end = min(last_closed, start + timedelta(days=MAX_DAYS_PER_TICK - 1))
    if start == end:
        daily = RunRequest(job_name="daily_job", partition_key=start.isoformat(), run_key=f"days:{start}")
    else:
        daily = RunRequest(job_name="daily_job", tags=range_tags(start, end), run_key=f"days:{start}:{end}")
    snapshot = RunRequest(job_name="snapshot_job", run_key=f"snapshot:{end}")
    return [daily, snapshot], end


def complete_periods(published: set[date]) -> list[tuple[str, date]]:
    """The weeks (Monday) and months (1st) whose every day is published, by their last day.

    Days before the first published day count as published (nothing happened yet); a period
    ending after the last published day is not complete.
    """
    if not published:
        return []
    first, last = min(published), max(published)
    periods: list[tuple[date, str, date]] = []
    monday = first - timedelta(days=first.weekday())
    while monday + timedelta(days=6) <= last:
        days = [monday + timedelta(days=n) for n in range(7)]
        if all(day in published or day < first for day in days):
            periods.append((monday + timedelta(days=6), "weekly_job", monday))
        monday += timedelta(days=7)
    month = first.replace(day=1)
    while True:
        following = (month + timedelta(days=32)).replace(day=1)
        if following - timedelta(days=1) > last:
            break
        days = [month + timedelta(days=n) for n in range((following - month).days)]
        if all(day in published or day < first for day in days):
            periods.append((following - timedelta(days=1), "monthly_job", month))
        month = following
    return [(job, start) for _, job, start in sorted(periods)]


def period_days(job: str, start: date) -> list[date]:
    """The days of the week (``weekly_job``, from Monday) or month (``monthly_job``) at ``start``."""
    if job == "weekly_job":
        return [start + timedelta(days=n) for n in range(7)]
    following = (start + timedelta(days=32)).replace(day=1)
    return [start + timedelta(days=n) for n in range((following - start).days)]


def period_requests(published: Mapping[date, str], launched: Mapping[str, str]) -> list[RunRequest]:
    """Run requests for the complete periods not launched yet, and for those with a day published
    again since their launch (a corrected day: the week's report and the month's pack are written
    again from the marts as they are now).

    ``published``: each published day and its version (when it was last published, as text that
    sorts in time order); ``launched``: each period's key (``week:…``/``month:…``) and the version
    it was launched for. Run keys are ``<key>@<version>``: one run per period and version.
    """
    requests = []
    for job, start in complete_periods(set(published)):
        key = f"{'week' if job == 'weekly_job' else 'month'}:{start}"
        version = max(published.get(day, "") for day in period_days(job, start))
        if key not in launched or launched[key] < version:
            requests.append(
                RunRequest(
                    job_name=job,
                    partition_key=start.isoformat(),
                    run_key=f"{key}@{version}",
                    tags={PERIOD_VERSION_TAG: version},
                )
            )
    return requests[:MAX_PERIODS_PER_TICK]


def launched_periods(cursor: str | None, published: Mapping[date, str]) -> dict[str, str]:
    """The sensor's cursor as ``{period key: version launched}``. A cursor from before periods
    had versions (comma-separated keys) counts each listed period as launched for its days'
    versions now, so an upgrade launches nothing again."""
    if not cursor:
        return {}
    if cursor.startswith("{"):
        return {str(k): str(v) for k, v in json.loads(cursor).items()}
    launched = {}
    for key in cursor.split(","):
        grain, _, start = key.partition(":")
        job = "weekly_job" if grain == "week" else "monthly_job"
        days = period_days(job, date.fromisoformat(start))
        launched[key] = max((published.get(day, "") for day in days), default="")
    return launched


@sensor(
    jobs=[daily_job, snapshot_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING if SANDBOX else DefaultSensorStatus.STOPPED,
    description="Sandbox: the days closed since the last tick as one run, then a snapshot.",
)
def closed_days_sensor(context: SensorEvaluationContext) -> SensorResult:
    import psycopg

    from cardportal.database import resolve_databases
    from cardportal.settings import get_settings
    from pipelines.clock import first_activity_day, last_closed_day

    settings = get_settings()
    with psycopg.connect(resolve_databases(settings).operational) as conn:
        last_closed = last_closed_day(conn)
        first_activity = first_activity_day(conn)
    if last_closed is None or first_activity is None:
        return SensorResult(skip_reason="no activity yet")
    first_day = max(date.fromisoformat(_setting("pipelines_start_date")), first_activity)
    cursor = date.fromisoformat(context.cursor) if context.cursor else None
    requests, new_cursor = closed_day_requests(cursor, last_closed, first_day)
    return SensorResult(run_requests=requests, cursor=new_cursor.isoformat())


@sensor(
    jobs=[weekly_job, monthly_job],
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Launch the weekly report and the monthly pack once all their days are published.",
)
def published_periods_sensor(context: SensorEvaluationContext) -> SensorResult:
    import psycopg

    from cardportal.database import libpq_conninfo, resolve_databases
    from cardportal.settings import get_settings

    settings = get_settings()
    with psycopg.connect(libpq_conninfo(resolve_databases(settings).warehouse)) as conn:
        exists = conn.execute("select to_regclass('reporting.published_days') is not null").fetchone()
        if not exists or not exists[0]:
            return SensorResult(skip_reason="nothing published yet")
        versions = conn.execute(
            "select day, to_char(published_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
            "from reporting.published_days"
        )
        published: dict[date, str] = dict(versions.fetchall())
    launched = launched_periods(context.cursor, published)
    requests = period_requests(published, launched)
    if not requests:
        return SensorResult(skip_reason="no week or month newly complete or published again")
    for request in requests:
        launched[str(request.run_key).split("@")[0]] = request.tags[PERIOD_VERSION_TAG]
    return SensorResult(run_requests=requests, cursor=json.dumps(launched, sort_keys=True))
