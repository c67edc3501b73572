"""Jobs, schedules (production cadence) and the sandbox sensor.

- ``daily_job``: extract the day, build and check the marts, publish, write the daily report.
- ``weekly_job`` / ``monthly_job``: the weekly report and the monthly finance pack.
- Schedules: daily at 02:00 UTC for the previous day, weekly on Monday, monthly on the 1st
  (running by default in production).
- ``closed_days_sensor`` (running by default in sandbox): launches each day the platform has
  closed, and the week or month that day completes. It reads the last closed day through
  :func:`pipelines.clock.last_closed_day` (billing_runs once the billing branch is merged).
"""

from datetime import date, timedelta

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    build_schedule_from_partitioned_job,
    define_asset_job,
    sensor,
)

from pipelines.partitions import _setting

SANDBOX = _setting("env") == "sandbox"

daily_job = define_asset_job(
    "daily_job",
    selection=AssetSelection.groups("extract", "staging", "snapshots", "intermediate", "marts")
    | AssetSelection.assets("daily_activity_report"),
    description="One business day: extract, dbt build, Great Expectations checks, publish, daily report.",
)
weekly_job = define_asset_job("weekly_job", selection=AssetSelection.assets("weekly_activity_report"))
monthly_job = define_asset_job("monthly_job", selection=AssetSelection.assets("monthly_finance_pack"))

_production = DefaultScheduleStatus.STOPPED if SANDBOX else DefaultScheduleStatus.RUNNING
schedules = [
    build_schedule_from_partitioned_job(daily_job, hour_of_day=2, default_status=_production),
    build_schedule_from_partitioned_job(weekly_job, hour_of_day=3, default_status=_production),
    build_schedule_from_partitioned_job(monthly_job, hour_of_day=4, default_status=_production),
]

MAX_DAYS_PER_TICK = 31


def closed_day_requests(
    last_launched: date | None, last_closed: date, first_day: date
) -> tuple[list[RunRequest], date]:
    """Run requests for the days after ``last_launched`` up to ``last_closed``; the new cursor."""
    day = max(first_day, (last_launched + timedelta(days=1)) if last_launched else first_day)
    requests: list[RunRequest] = []
    while day <= last_closed and len(requests) < MAX_DAYS_PER_TICK:
        requests.append(RunRequest(job_name="daily_job", partition_key=day.isoformat(), run_key=f"day:{day}"))
        if day.isoweekday() == 7:  # Sunday closes the ISO week
            monday = day - timedelta(days=6)
            if monday >= first_day:
                requests.append(
                    RunRequest(
                        job_name="weekly_job", partition_key=monday.isoformat(), run_key=f"week:{monday}"
                    )
                )
        if (day + timedelta(days=1)).day == 1:  # the last day of a month
            month = day.replace(day=1)
            if month >= first_day:
                requests.append(
                    RunRequest(
                        job_name="monthly_job", partition_key=month.isoformat(), run_key=f"month:{month}"
                    )
                )
        last_launched = day
        day += timedelta(days=1)
    return requests, last_launched or (first_day - timedelta(days=1))


@sensor(
    jobs=[daily_job, weekly_job, monthly_job],
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING if SANDBOX else DefaultSensorStatus.STOPPED,
    description="Sandbox: launch each day the platform closed, and the weeks and months those days complete.",
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
