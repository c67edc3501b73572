"""``monthly_pack``: writing the monthly finance pack ÷ the raw monthly aggregate query (goal ≤ 3).

Ours: the ``monthly_finance_pack`` asset (CSV, XLSX and the PDF summary
with its chart, each registered in ``reporting.report_files``) for the
world's last complete month, timed as the step's own duration in the run
(Dagster's ``STEP_SUCCESS``; the run's launch around it costs seconds of its
own and is not the pack's work), over marts built by dbt and published.
Baseline: the month's daily-by-MCC purchase sums straight from
``raw.transactions``, the aggregate the pack summarises.
"""

from __future__ import annotations

from datetime import date, timedelta

from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.warehouse_world import daily_job_run, extract_everything, timed_query, world

NAME = "monthly_pack"

_RAW_MONTH = """
select created_at::date as day, merchant_mcc, sum(amount) as volume, count(*) as purchases
from raw.transactions
where type = 'purchase' and created_at >= %(start)s and created_at < %(end)s
group by 1, 2
"""


def last_complete_month(days: list[date]) -> date:
    first_of_last = days[-1].replace(day=1)
    month = (first_of_last - timedelta(days=1)).replace(day=1)
    if month < days[0]:
        raise RuntimeError("the world holds no complete month")
    return month


def run(env: BenchEnv) -> Result:
    made = world(env)
    extract_everything(made)
    from dagster import DagsterInstance, materialize

    from cardportal.dagster import dbt_parse
    from pipelines.assets_publish import published_marts
    from pipelines.assets_reports import monthly_finance_pack

    dbt_parse()
    # The marts built and published through Dagster for every day of the world (one single-run
    # backfill): publish takes only a build its own run made, and records the days, which the
    # pack requires to be all published.
    from pipelines.assets_dbt import cardportal_dbt_assets
    from pipelines.automation import range_tags

    platform = made.platform()
    _, resources = daily_job_run(platform)
    with DagsterInstance.ephemeral() as instance:
        published = materialize(
            [cardportal_dbt_assets, published_marts],
            tags=range_tags(made.days[0], made.days[-1]),
            resources=resources,
            instance=instance,
        )
    if not published.success:
        raise RuntimeError("publishing the marts failed")
    month = last_complete_month(made.days)
    end = (month + timedelta(days=32)).replace(day=1)

    def ours() -> float:
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                [monthly_finance_pack],
                partition_key=month.isoformat(),
                resources={"platform": platform},
                instance=instance,
            )
        if not result.success:
            raise RuntimeError("the monthly finance pack failed")
        # The step's own time (Dagster's STEP_SUCCESS duration), not the run's launch around it.
        (seconds,) = (
            event.event_specific_data.duration_ms / 1000  # type: ignore[union-attr]
            for event in result.all_events
            if event.event_type_value == "STEP_SUCCESS"
        )
        return float(seconds)

    def baseline() -> float:
        return timed_query(made.warehouse_url, _RAW_MONTH, {"start": month, "end": end})

    ours_runs, base_runs = paired(ours, baseline, repetitions=env.repetitions)
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="s",
        baseline_name="raw monthly aggregate, s",
        goal=3.0,
        direction="<=",
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"month {month:%Y-%m} of {made.rows:,} transactions; CSV + XLSX + PDF, registered",
        extra=dict(made.timings),
    )
