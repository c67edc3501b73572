"""The daily job of one partition in a process of its own, for the crash test.

``python -m tests.faults.extract_child OPERATIONAL_URL WAREHOUSE_URL HOME DAY [--slow-copy TABLE]``

Runs the daily job's assets (extracts, dbt, Great Expectations, publish, daily report)
for DAY, as ``tests/pipelines`` does. With ``--slow-copy TABLE``, the ``COPY`` that loads
that raw table is fed a line at a time, slowly, and ``COPYING <table>`` is printed once its
first line is in: the parent kills the process with SIGKILL mid-load. Nothing in the
pipelines is changed; only this process's ``psycopg`` copy is slowed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg


def _slow_copies(table: str) -> None:
    original_copy = psycopg.Cursor.copy
    original_write = psycopg.Copy.write
    slowed: set[int] = set()

    @contextmanager
    def copy(self: psycopg.Cursor[Any], statement: Any, *args: Any, **kwargs: Any) -> Iterator[psycopg.Copy]:
        text = statement.as_string(self.connection) if hasattr(statement, "as_string") else str(statement)
        with original_copy(self, statement, *args, **kwargs) as started:
            if f'raw."{table}"' in text and "from stdin" in text:
                slowed.add(id(started))
            yield started

    def write(self: psycopg.Copy, buffer: Any) -> None:
        if id(self) not in slowed:
            original_write(self, buffer)
            return
        for number, line in enumerate(bytes(buffer).splitlines(keepends=True)):
            original_write(self, line)
            if number == 1:  # the header and a first row are in the server's hands
                print(f"COPYING {table}", flush=True)
            time.sleep(0.5)

    psycopg.Cursor.copy = copy  # type: ignore[method-assign]
    psycopg.Copy.write = write  # type: ignore[method-assign]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("operational_url")
    parser.add_argument("warehouse_url")
    parser.add_argument("home")
    parser.add_argument("day")
    parser.add_argument("--slow-copy", default=None)
    args = parser.parse_args()
    if args.slow_copy:
        _slow_copies(args.slow_copy)

    from dagster import DagsterInstance, materialize

    from tests.pipelines.conftest import daily_selection, ensure_dbt_manifest, platform_resources

    ensure_dbt_manifest()
    resources = platform_resources(args.operational_url, args.warehouse_url, Path(args.home))
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            daily_selection(), resources=resources, partition_key=args.day, instance=instance
        )
    print("SUCCESS" if result.success else "FAILURE", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
