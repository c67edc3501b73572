"""Partitions on the platform's business day (UTC), and its weeks and months.

In sandbox mode the clock may run ahead of real time (the simulator moves it),
so the partitions reach ``PIPELINES_SANDBOX_DAYS_AHEAD`` days past today;
in production they end at the last complete day, week or month.
"""

from __future__ import annotations

import os

from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition, WeeklyPartitionsDefinition

from cardportal.settings import Settings


def _setting(name: str) -> str:
    """One setting's value without building Settings (which creates sandbox secrets)."""
    field = Settings.model_fields[name]
    assert field.alias is not None
    return os.environ.get(field.alias, str(field.default))


_START = _setting("pipelines_start_date")
_AHEAD = int(_setting("pipelines_sandbox_days_ahead")) if _setting("env") == "sandbox" else 0

daily_partitions = DailyPartitionsDefinition(start_date=_START, timezone="UTC", end_offset=_AHEAD)
# Weeks start on Monday (ISO 8601), as date_trunc('week') does in the marts.
weekly_partitions = WeeklyPartitionsDefinition(
    start_date=_START, timezone="UTC", day_offset=1, end_offset=-(-_AHEAD // 7)
)
monthly_partitions = MonthlyPartitionsDefinition(
    start_date=_START, timezone="UTC", end_offset=-(-_AHEAD // 28)
)
