"""The test world's calendar on every weekday it can start on, without building seven worlds.

The pipeline world (``conftest.build_world``) is expensive and built once per module; what depends
on its first day is its calendar: which ISO weeks and months its card days fall in, which of them
the dashboards' pages show, and whether the world ran past their end so their report files exist.
Here that calendar is checked for a world started on each weekday and across month and year ends,
against the marts' own ``date_trunc`` and the pipelines' weekly and monthly partitions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from dashboards import ui
from tests.pipelines.conftest import (
    World,
    billing_calendar,
    period_start,
)

TODAY = datetime.now(UTC).date()


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


# A world started on each weekday, and on the last three days of a month and of a year (card
# days that run into the next month or ISO year); all within the pipelines' partitions.
STARTS = sorted(
    {TODAY + timedelta(days=n) for n in range(1, 8)}
    | {_month_end(TODAY + timedelta(days=40)) - timedelta(days=n) for n in range(3)}
    | {date(TODAY.year, 12, 31) - timedelta(days=n) for n in range(3) if date(TODAY.year, 12, 29) > TODAY}
    | {date(TODAY.year + 1, 12, 31) - timedelta(days=n) for n in range(3)}
)


def test_the_starts_cover_every_weekday() -> None:
    assert {start.weekday() for start in STARTS} == set(range(7))


@pytest.mark.parametrize("start", STARTS, ids=lambda d: f"{d:%a}-{d.isoformat()}")
def test_the_pages_periods_for_a_world_started_on(start: date, engine: Engine) -> None:
    from pipelines.partitions import monthly_partitions, weekly_partitions

    world = World.planned(start)
    assert world.days == [start, start + timedelta(days=1), start + timedelta(days=2)]
    close, second_close, last = billing_calendar(start)
    assert start < close < second_close < last == world.all_days[-1]
    partitions = {"weekly": weekly_partitions, "monthly": monthly_partitions}
    for grain in ("weekly", "monthly"):
        periods = world.activity_periods(grain)
        # The page shows the latest period with card activity: the one holding the last card day.
        assert periods[-1] == period_start(grain, world.days[-1])
        assert periods[0] == period_start(grain, world.days[0])
        assert len(periods) == (
            2 if period_start(grain, start) != period_start(grain, start + timedelta(2)) else 1
        )
        for first in periods:
            # Closed before the world's last day: the pipelines can write (and the dashboards'
            # fixture writes) its report file, as the pages expect.
            assert ui.period_end(grain, first) < last
            assert ui.prior_start(grain, first) < first
            # The period is one of the pipelines' partitions, with the same start as the marts'.
            stamp = datetime.combine(first + timedelta(days=1), time(12), tzinfo=UTC).timestamp()
            assert partitions[grain].get_partition_key_for_timestamp(stamp) == first.isoformat()
        for day in world.days:
            with engine.connect() as conn:
                truncated = conn.execute(
                    text("select date_trunc(:unit, cast(:day as date))::date"),
                    {"unit": {"weekly": "week", "monthly": "month"}[grain], "day": day},
                ).scalar_one()
            assert truncated == period_start(grain, day)
