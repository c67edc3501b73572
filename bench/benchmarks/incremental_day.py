"""``incremental_day``: the daily job for a day on a 365-day world ÷ on a 30-day world (goal ≤ 1.5).

Both worlds have the same accounts and the same activity per day; only the
length of the history differs. Each is seeded in bulk (:func:`seed_world`:
:func:`bench.seed.seed_accounts`, then ``INSERT … SELECT`` of posted
purchases with their ledger transfers and entries, as authorize + clear
write them: a hold, its posting, six entries), so the marts reconcile with
the ledger and the blocking Great Expectations checks pass. Every day but
the last is extracted through the real extract specs (the history a daily
job finds), then the daily job's assets run once for the last day (a
warm-up: marts built, Great Expectations imported) and are timed for that
day, alternating the two worlds: every extract of the day, ``dbt build``
with the day's ``--vars`` (staging, intermediate, marts and their tests; the
big facts incremental by day), the Great Expectations checks, the publish
(the facts' day delete+inserted, the report tables swapped) and the daily
report, in one
in-process Dagster run (``materialize``, the run's launch included).
Re-running a day is what a re-run or a late day costs: the extracts replace
the day's slice.

Sizes: 1,000 accounts and 2,740 purchases a day (1M over the year, 82k over
30 days); QUICK: 50 accounts and 100 a day (36,500 against 3,000), and no
warm-up runs (Great Expectations is imported beforehand instead): a daily
run is ~35 s of dbt even on a small world here, so QUICK is six of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.seed import seed_accounts
from bench.warehouse_world import bench_platform, daily_job_run, empty_database, pipelines_env
from cardportal.database import libpq_conninfo

NAME = "incremental_day"
LONG, SHORT = 365, 30

# Posted purchases over ``days`` days ending with ``last``, ``per_day`` each, spread over the
# accounts; each with its hold (pending layer) and the posting that cleared it, as the ledger
# service writes them (post_pending: the hold's pending entries reversed, the posted ones written),
# against the account's own house shard (``ledger_house``, as the service picks it).
_PURCHASES = """
create temporary table seeded as
select s.*, ledger_house('network_settlement', s.account_id) as house_id
from (
    select g,
           'txn_bench' || lpad(g::text, 12, '0') as id,
           'acct_bench' || lpad((1 + g %% %(accounts)s)::text, 10, '0') as account_id,
           'card_bench' || lpad((1 + g %% %(accounts)s)::text, 10, '0') as card_id,
           'tr_benchh' || lpad(g::text, 12, '0') as hold_id,
           'tr_benchp' || lpad(g::text, 12, '0') as posting_id,
           (100 + g %% 9000)::bigint as amount,
           %(start)s + make_interval(secs => (g - 1) * 86400.0 / %(per_day)s) as at
    from generate_series(1, %(rows)s::int) g
) s;

insert into ledger_accounts (id, currency, created_at)
select distinct house_id, 'USD', %(start)s from seeded
on conflict (id) do nothing;

insert into ledger_transfers (id, kind, state, debit_account_id, credit_account_id, amount, currency,
                              pending_id, reference, created_at)
select hold_id, 'hold', 'posted', account_id || ':receivable', house_id, amount, 'USD', null, id, at
from seeded
union all
select posting_id, 'purchase', 'posted', account_id || ':receivable', house_id, amount, 'USD', hold_id,
       id, at
from seeded;

insert into ledger_entries (transfer_id, ledger_account_id, amount, layer, created_at)
select hold_id, account_id || ':receivable', amount, 'pending', at from seeded
union all select hold_id, house_id, -amount, 'pending', at from seeded
union all select posting_id, account_id || ':receivable', -amount, 'pending', at from seeded
union all select posting_id, house_id, amount, 'pending', at from seeded
union all select posting_id, account_id || ':receivable', amount, 'posted', at from seeded
union all select posting_id, house_id, -amount, 'posted', at from seeded;

insert into transactions (id, account_id, card_id, type, status, amount, authorized_amount, currency,
                          merchant_name, merchant_mcc, merchant_country, hold_transfer_id,
                          posting_transfer_id, created_at, posted_at)
select id, account_id, card_id, 'purchase', 'posted', amount, amount, 'USD',
       'Bench Merchant ' || g %% 500, (array['5411', '5812', '5542', '5942'])[1 + g %% 4], 'US',
       hold_id, posting_id, at, at
from seeded;

update ledger_accounts a set posted_balance = s.posted, pending_balance = 0,
       posted_debits = s.debits, posted_credits = s.credits
from (
    select ledger_account_id,
           sum(amount) filter (where layer = 'posted') as posted,
           coalesce(sum(amount) filter (where layer = 'posted' and amount > 0), 0) as debits,
           coalesce(-sum(amount) filter (where layer = 'posted' and amount < 0), 0) as credits
    from ledger_entries group by ledger_account_id
) s
where a.id = s.ledger_account_id;
"""


@dataclass
class DayWorld:
    days: int
    operational_url: str
    warehouse_url: str
    home: Path
    history: list[date]
    day: date
    rows: int
    seconds: dict[str, float]

    def platform(self) -> Any:
        return bench_platform(self.operational_url, self.warehouse_url, self.home)


def sizes(quick: bool) -> tuple[int, int]:
    """(accounts, purchases a day)."""
    return (50, 100) if quick else (1_000, 2_740)


def seed_world(url: str, *, accounts: int, per_day: int, days: int, last: date) -> int:
    """Accounts from the world's first day and ``per_day`` purchases on each of ``days`` days."""
    first = last - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    seed_accounts(url, first=1, last=accounts)
    rows = per_day * days
    with psycopg.connect(libpq_conninfo(url)) as conn:
        for table in ("users", "accounts", "cards", "ledger_accounts"):
            conn.execute(f"update {table} set created_at = %s", (start,))
        conn.execute("update accounts set opened_at = %s", (start,))
        params = {"accounts": accounts, "per_day": per_day, "rows": rows, "start": start}
        for statement in _PURCHASES.split(";\n\n"):
            conn.execute(statement, params)
    with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
        conn.execute("vacuum analyze")
    return rows


def build(env: BenchEnv, days: int, last: date) -> DayWorld:
    """A seeded world of ``days`` days and its warehouse holding every day before ``last``."""
    from cardportal.warehouse import ensure_warehouse

    accounts, per_day = sizes(env.quick)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    operational = env.fresh_database(f"bench_day{days}_ops")
    rows = seed_world(operational, accounts=accounts, per_day=per_day, days=days, last=last)
    timings["seed_seconds"] = round(time.perf_counter() - started, 1)
    warehouse = empty_database(env, f"bench_day{days}_wh")
    ensure_warehouse(warehouse)
    home = env.root / f"day{days}-home"
    home.mkdir(parents=True, exist_ok=True)
    history = [last - timedelta(days=n) for n in range(days - 1, 0, -1)]
    made = DayWorld(days, operational, warehouse, home, history, last, rows, timings)

    from pipelines.extract import SPECS, extract_days, extract_request_log

    started = time.perf_counter()
    platform = made.platform()
    for spec in SPECS:
        extract_days(platform, spec, history)
    for day in history:  # no request logs in these worlds: empty tables, as the job leaves them
        extract_request_log(platform, day)
    timings["history_extract_seconds"] = round(time.perf_counter() - started, 1)
    return made


def daily_run(made: DayWorld) -> tuple[float, dict[str, float]]:
    """The daily job's assets for ``made.day`` in one Dagster run: seconds, and each step's."""
    from dagster import DagsterInstance, materialize

    assets, resources = daily_job_run(made.platform())
    with DagsterInstance.ephemeral() as instance:
        started = time.perf_counter()
        result = materialize(
            assets,
            resources=resources,
            instance=instance,
            partition_key=made.day.isoformat(),
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
    steps = {
        str(event.step_key): event.event_specific_data.duration_ms / 1000  # type: ignore[union-attr]
        for event in result.all_events
        if event.event_type_value == "STEP_SUCCESS"
    }
    if not result.success or "daily_activity_report" not in steps:
        failures = [str(e.message) for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        raise RuntimeError(f"the daily job failed for {made.day} ({made.days}-day world): {failures}")
    return seconds, steps


def _step_summary(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median seconds per stage: extracts (summed), dbt, checks, publish, report."""

    def stage(steps: dict[str, float]) -> dict[str, float]:
        out = {"extracts": 0.0, "dbt": 0.0, "checks": 0.0, "publish": 0.0, "report": 0.0}
        for key, seconds in steps.items():
            if key.startswith(("raw__", "api_requests")):
                out["extracts"] += seconds
            elif "dbt" in key:
                out["dbt"] += seconds
            elif "great_expectations" in key:
                out["checks"] += seconds
            elif "published" in key:
                out["publish"] += seconds
            elif "report" in key:
                out["report"] += seconds
        return out

    staged = [stage(steps) for steps in runs]
    return {name: round(median([s[name] for s in staged]), 2) for name in staged[0]} if staged else {}


def run(env: BenchEnv) -> Result:
    pipelines_env(env.root / "warehouse-home")
    from cardportal.dagster import dbt_parse

    dbt_parse()
    last = datetime.now(UTC).date() - timedelta(days=1)
    short = build(env, SHORT, last)
    long = build(env, LONG, last)
    if env.quick:
        import great_expectations  # noqa: F401 (~10 s, once per process: not a day's work)
    else:
        for made in (short, long):  # warm-up: the marts exist, Great Expectations is imported
            made.seconds["first_run_seconds"] = round(daily_run(made)[0], 1)

    steps: dict[int, list[dict[str, float]]] = {SHORT: [], LONG: []}

    def measure(made: DayWorld) -> float:
        seconds, per_step = daily_run(made)
        steps[made.days].append(per_step)
        return seconds

    ours_runs, base_runs = paired(lambda: measure(long), lambda: measure(short), repetitions=env.repetitions)
    accounts, per_day = sizes(env.quick)
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="s",
        baseline_name="same day on a 30-day world, s",
        goal=1.5,
        direction="<=",
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{accounts:,} accounts, {per_day:,} purchases a day: {long.rows:,} against {short.rows:,} "
        f"purchases; day {last}; one in-process Dagster run of the daily job's assets",
        extra={
            "stages_365_days_seconds": _step_summary(steps[LONG]),
            "stages_30_days_seconds": _step_summary(steps[SHORT]),
            "world_365_days": long.seconds,
            "world_30_days": short.seconds,
        },
    )
