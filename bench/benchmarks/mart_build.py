"""``mart_build``: dbt build of the activity marts over the world ÷ a raw aggregate (goal ≤ 1.25).

Ours: ``dbt build --full-refresh`` of ``rpt_card_activity_daily``,
``_weekly`` and ``_monthly`` with everything upstream of them (staging,
intermediate, ``fct_transactions``, the tests on them alone: cautious
indirect selection) over the extracted raw
layer, minus dbt's fixed start-up. The start-up (parse check, adapter,
connection: a ``dbt run`` that selects nothing) is measured in the same run
and reported apart. Baseline: one ``CREATE TABLE AS`` of daily-by-account
sums over the same ``raw.transactions``.
"""

from __future__ import annotations

from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.warehouse_world import dbt, extract_everything, timed_query, world

NAME = "mart_build"
ACTIVITY = "+rpt_card_activity_daily +rpt_card_activity_weekly +rpt_card_activity_monthly"

_AGGREGATE = """
create table public.aggregate_baseline as
select account_id, created_at::date as day, sum(amount) as amount, count(*) as transactions
from raw.transactions
group by 1, 2
"""


def run(env: BenchEnv) -> Result:
    made = world(env)
    extract_everything(made)
    from cardportal.dagster import dbt_parse

    dbt_parse()
    # Untimed: the first invocation in the target folder parses the whole project (no partial
    # parse yet), which made the first repetition's start-up longer than its build (ours 0).
    dbt(made, "run", "--select", "tag:no_such_tag_selects_nothing")
    startups: list[float] = []

    def ours() -> float:
        startup = dbt(made, "run", "--select", "tag:no_such_tag_selects_nothing")
        startups.append(startup)
        return max(
            dbt(
                made,
                "build",
                "--full-refresh",
                "--indirect-selection",
                "cautious",
                "--select",
                *ACTIVITY.split(),
            )
            - startup,
            0.0,
        )

    def baseline() -> float:
        # Timed inside a transaction that is rolled back: the table never stays.
        return timed_query(made.warehouse_url, _AGGREGATE)

    ours_runs, base_runs = paired(ours, baseline, repetitions=env.repetitions)
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="s",
        baseline_name="raw CREATE TABLE AS, s",
        goal=1.25,
        direction="<=",
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{made.rows:,} transactions{' (QUICK: fewer than 1M)' if env.quick else ''}; "
        f"dbt start-up {median(startups):.1f} s reported apart (not in ours)",
        extra={"dbt_startup_seconds": round(median(startups), 2), **made.timings},
    )
