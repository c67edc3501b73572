"""dbt's test results, kept where the dashboards can read them (issue 22, finding 6).

Each ``dbt build`` of the daily job writes ``run_results.json``; its data tests and unit tests
are recorded in ``reporting.dbt_test_results`` (one row per test and run, replaced when a
step is retried), with the model each one tests. The Data quality page shows the latest
build's: how many passed, and every one that did not, with dbt's message. Recording never
fails the step: the build's own outcome is what the run reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg


def _model_of(unique_id: str, manifest: Mapping[str, Any]) -> str | None:
    if unique_id.startswith("unit_test."):
        model = manifest.get("unit_tests", {}).get(unique_id, {}).get("model")
        return None if model is None else str(model)
    node = manifest.get("nodes", {}).get(unique_id, {})
    attached = node.get("attached_node")
    if attached:
        return str(attached).split(".")[-1]
    parents = node.get("depends_on", {}).get("nodes", [])
    return str(parents[0]).split(".")[-1] if parents else None


def test_rows(run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per data test and unit test of the build, in dbt's order."""
    rows = []
    for result in run_results.get("results", []):
        unique_id = str(result["unique_id"])
        if not unique_id.startswith(("test.", "unit_test.")):
            continue
        finished = next((t["completed_at"] for t in result.get("timing", []) if t["name"] == "execute"), None)
        rows.append(
            {
                "test_id": unique_id,
                "test_name": unique_id.split(".")[2] if unique_id.count(".") >= 2 else unique_id,
                "kind": "unit_test" if unique_id.startswith("unit_test.") else "data_test",
                "model": _model_of(unique_id, manifest),
                "status": str(result.get("status")),
                "failures": result.get("failures"),
                "message": (result.get("message") or None) if result.get("status") != "pass" else None,
                "executed_at": datetime.fromisoformat(finished.replace("Z", "+00:00")) if finished else None,
            }
        )
    return rows


def record(
    conn: psycopg.Connection[Any], run_id: str, run_results: Mapping[str, Any], manifest: Mapping[str, Any]
) -> int:
    """Replace this run's rows with the build's test results; how many were recorded."""
    rows = test_rows(run_results, manifest)
    invocation = run_results.get("metadata", {}).get("invocation_id")
    with conn.transaction():
        conn.execute("delete from reporting.dbt_test_results where run_id = %s", (run_id,))
        with conn.cursor() as cursor:
            cursor.executemany(
                """
                insert into reporting.dbt_test_results
                    (run_id, invocation_id, test_id, test_name, kind, model, status, failures, message,
                     executed_at)
                values (%(run_id)s, %(invocation_id)s, %(test_id)s, %(test_name)s, %(kind)s, %(model)s,
                        %(status)s, %(failures)s, %(message)s, %(executed_at)s)
                """,
                [{**row, "run_id": run_id, "invocation_id": invocation} for row in rows],
            )
    return len(rows)
