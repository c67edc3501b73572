"""A Dagster extract killed mid-partition: no half slice anywhere, and the re-run is whole.

The world of tests/pipelines is extracted and published once, cleanly (the reference).
Then a day's raw slices are dropped (the day as if never loaded) and the daily job of that
day runs in a process of its own, its ``COPY`` into ``raw.transactions`` slowed, and is
killed with SIGKILL mid-load, inside the load's transaction. After the kill:

- ``raw.transactions`` has no row of that day (the load's transaction died with it: no
  half slice), and every raw slice of the day is either absent or whole;
- the published marts are exactly the clean run's (publishing only follows the checks).

The day's job then runs again to the end in a new process: every raw slice and every
published mart equals the clean run's, row for row (counts, money sums, digests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cardportal.database import libpq_conninfo
from pipelines.assets_publish import MART_TABLES
from tests.faults.conftest import write_result
from tests.pipelines.conftest import Pipeline, raw_fingerprint
from tests.pipelines.conftest import dbt_manifest as dbt_manifest
from tests.pipelines.conftest import pipeline as pipeline

pytestmark = pytest.mark.xdist_group("pipeline")

REPO = Path(__file__).resolve().parents[2]
KILLED_TABLE = "transactions"


def _day_slices(conn: psycopg.Connection[Any], day: str) -> dict[str, tuple[int, str]]:
    """Per raw table: the day's row count and a digest of its rows."""
    tables = [
        r[0] for r in conn.execute("select tablename from pg_tables where schemaname = 'raw' order by 1")
    ]
    out = {}
    for table in tables:
        row = conn.execute(
            psycopg.sql.SQL(
                "select count(*), coalesce(md5(string_agg(md5(t::text), '' order by md5(t::text))), '') "
                "from raw.{} t where _partition_date = %s"
            ).format(psycopg.sql.Identifier(table)),
            (day,),
        ).fetchone()
        assert row is not None
        out[table] = (int(row[0]), str(row[1]))
    return out


def _marts(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, str]]:
    out = {}
    for table in MART_TABLES:
        row = conn.execute(
            psycopg.sql.SQL(
                "select count(*), coalesce(md5(string_agg(md5(t::text), '' order by md5(t::text))), '') "
                "from marts.{} t"
            ).format(psycopg.sql.Identifier(table))
        ).fetchone()
        assert row is not None
        out[table] = (int(row[0]), str(row[1]))
    return out


def _money(conn: psycopg.Connection[Any], day: str) -> tuple[int, int]:
    row = conn.execute(
        "select count(*), coalesce(sum(amount), 0) from raw.transactions where _partition_date = %s", (day,)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _child(state: Pipeline, day: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.faults.extract_child",
            state.operational_url,
            state.warehouse_url,
            str(state.home),
            day,
            *extra,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


def test_an_extract_killed_mid_partition_leaves_no_half_slice_and_reruns_whole(pipeline: Pipeline) -> None:
    state = pipeline
    assert state.result.success
    day = state.world.days[1].isoformat()
    conninfo = libpq_conninfo(state.warehouse_url)
    with psycopg.connect(conninfo) as conn:
        clean_slices = _day_slices(conn, day)
        clean_marts = _marts(conn)
        clean_money = _money(conn, day)
        clean_raw = raw_fingerprint(conn)
    assert clean_money[0] > 0
    assert clean_slices[KILLED_TABLE][0] == clean_money[0]

    # The day as if never loaded, then its job killed in the middle of loading it.
    with psycopg.connect(conninfo) as conn:
        for table in clean_slices:
            conn.execute(
                psycopg.sql.SQL("delete from raw.{} where _partition_date = %s").format(
                    psycopg.sql.Identifier(table)
                ),
                (day,),
            )
    child = _child(state, day, "--slow-copy", KILLED_TABLE)
    assert child.stdout is not None
    deadline = time.monotonic() + 600
    seen = ""
    for line in child.stdout:
        seen += line
        if line.startswith(f"COPYING {KILLED_TABLE}"):
            break
        assert time.monotonic() < deadline, "the extract never reached its load"
    assert f"COPYING {KILLED_TABLE}" in seen, seen[-2000:]
    with psycopg.connect(conninfo) as conn:
        loading = conn.execute(
            "select count(*) from pg_stat_activity where query ilike 'copy raw.%%' and state = 'active'"
        ).fetchone()
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with psycopg.connect(conninfo) as conn:
        # The server notices the dead client and rolls its transaction back.
        deadline = time.monotonic() + 60
        in_flight = (
            "select count(*) from pg_stat_activity "
            "where query ilike 'copy raw.%%' and pid <> pg_backend_pid()"
        )
        while conn.execute(in_flight).fetchone() != (0,):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        after_kill = _day_slices(conn, day)
        assert _money(conn, day) == (0, 0)  # not half a slice: none
        for table, (rows, digest) in after_kill.items():
            assert rows == 0 or (rows, digest) == clean_slices[table], table
        assert _marts(conn) == clean_marts  # what readers see never changed

    # The re-run of the partition, to the end.
    rerun = _child(state, day)
    output, _ = rerun.communicate(timeout=1200)
    assert rerun.returncode == 0, output[-2000:]
    assert "SUCCESS" in output
    with psycopg.connect(conninfo) as conn:
        assert _day_slices(conn, day) == clean_slices
        assert _money(conn, day) == clean_money
        assert raw_fingerprint(conn) == clean_raw
        assert _marts(conn) == clean_marts
    write_result(
        "crash_extract",
        {
            "partition": day,
            "killed_while_loading": f"raw.{KILLED_TABLE}",
            "copies_in_flight_at_kill": int(loading[0]) if loading else 0,
            "raw_tables_after_kill_whole_or_absent": len(after_kill),
            "rerun_rows": clean_money[0],
            "rerun_amount_sum": clean_money[1],
            "marts_compared": len(clean_marts),
            "lost": 0,
        },
    )
