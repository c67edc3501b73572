"""One real pipeline run over a small world: extract, dbt build, Great Expectations, publish, reports."""

from __future__ import annotations

import csv
import hashlib
import io
from decimal import Decimal

import pytest

from tests.pipelines.conftest import SALT, Pipeline

pytestmark = pytest.mark.xdist_group("pipeline")


def test_the_run_succeeds_and_every_check_passes(pipeline: Pipeline) -> None:
    result = pipeline.result
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    names = {e.check_name for e in evaluations}
    assert {f"great_expectations_{t}" for t in ("fct_transactions", "rpt_ledger_reconciliation")} <= names
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]
    assert any(name.startswith(("unique_", "not_null")) for name in names)  # dbt tests


def test_marts_reconcile_with_the_ledger_to_the_cent(pipeline: Pipeline) -> None:
    with pipeline.warehouse() as conn:
        rows = conn.execute(
            "select movement_date, marts_posted_cents, ledger_posted_cents, posted_difference_cents, "
            "pending_difference_cents from marts.rpt_ledger_reconciliation order by 1"
        ).fetchall()
    assert [r[0] for r in rows] == pipeline.world.days
    assert all(r[3] == 0 and r[4] == 0 for r in rows)
    assert all(r[1] == r[2] for r in rows)
    truth = pipeline.world
    for day, marts_posted, *_ in rows:
        assert marts_posted == truth.purchases[day] - truth.refunds[day]


def test_daily_activity_equals_the_ground_truth(pipeline: Pipeline) -> None:
    truth = pipeline.world
    with pipeline.warehouse() as conn:
        rows = conn.execute(
            "select period_start, purchase_volume_cents, purchase_count, refund_volume_cents, "
            "authorizations_count, approved_count from marts.rpt_card_activity_daily where mcc_group = 'all'"
        ).fetchall()
    by_day = {r[0]: r[1:] for r in rows}
    for day in truth.days:
        volume, count, refunds, *_ = by_day[day]
        assert (volume, count, refunds) == (
            truth.purchases[day],
            truth.purchase_counts[day],
            truth.refunds[day],
        )
    assert sum(r[3] for r in by_day.values()) == truth.authorizations
    assert sum(r[3] - r[4] for r in by_day.values()) == truth.declined


def test_pii_never_reaches_the_warehouse(pipeline: Pipeline) -> None:
    import hmac

    with pipeline.warehouse() as conn:
        columns = {r[0] for r in conn.execute("select column_name from information_schema.columns")}
        keys = {r[0] for r in conn.execute("select customer_key from marts.dim_customers")}
        dump = " ".join(
            str(r) for r in conn.execute("select * from raw.customers union all select * from raw.customers")
        )
        bands = {r[0] for r in conn.execute("select age_band from marts.dim_customers")}
    assert not columns & {
        "email",
        "full_name",
        "date_of_birth",
        "pan_ciphertext",
        "last4",
        "user_id",
        "client_ip",
    }
    expected = {
        hmac.new(SALT.encode(), u.encode(), hashlib.sha256).hexdigest()[:32] for u in pipeline.world.customers
    }
    assert keys == expected
    assert not any(u in dump for u in pipeline.world.customers)
    assert bands == {"35-44"}  # born 1990-06-15


def test_request_logs_load_and_malformed_lines_are_quarantined(pipeline: Pipeline) -> None:
    day = pipeline.world.days[0]
    with pipeline.warehouse() as conn:
        loaded = conn.execute(
            "select count(*) from raw.api_requests where _partition_date = %s", (day,)
        ).fetchone()
        quarantined = conn.execute(
            "select reason from raw.api_requests_quarantine where _partition_date = %s order by line_number",
            (day,),
        ).fetchall()
        usage = conn.execute(
            "select requests_count, p50_ms, p95_ms, p99_ms from marts.rpt_api_usage_daily "
            "where route = '/v1/network/authorizations' and method = 'POST'"
        ).fetchall()
    assert loaded is not None
    assert loaded[0] > 0
    assert [r[0] for r in quarantined] == [
        "invalid JSON: Expecting value",
        "invalid JSON: Expecting ',' delimiter",
    ]
    assert usage
    assert all(r[0] > 0 and r[1] <= r[2] <= r[3] for r in usage)


def test_report_files_exist_are_registered_and_match_the_marts(pipeline: Pipeline) -> None:
    reports = pipeline.home / "reports"
    with pipeline.warehouse() as conn:
        registered = conn.execute(
            "select name, period, period_start, format, path, size_bytes, sha256 from reporting.report_files "
            "where period = 'daily' order by period_start, format"
        ).fetchall()
        volumes = dict(
            conn.execute(
                "select period_start, purchase_volume_cents from marts.rpt_card_activity_daily "
                "where mcc_group = 'all'"
            ).fetchall()
        )
    assert [(r[2], r[3]) for r in registered] == [
        (d, f) for d in pipeline.world.days for f in ("csv", "xlsx")
    ]
    for name, _, start, fmt, path, size, sha in registered:
        payload = (reports / path).read_bytes()
        assert len(payload) == size
        assert hashlib.sha256(payload).hexdigest() == sha
        assert name == "card_activity_daily"
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(payload.decode())))
            total = next(r for r in rows if r["mcc_group"] == "all")
            assert Decimal(total["purchase_volume_usd"]) * 100 == volumes[start]


def test_rerunning_a_partition_changes_nothing(pipeline: Pipeline) -> None:
    snaps = pipeline.snapshots
    assert snaps["rerun"]
    assert snaps["rerun_report"]
    assert snaps["raw_after"] == snaps["raw_before"]
    assert snaps["raw_before"]["transactions"][0] > 0
    assert snaps["files_after"] == snaps["files_before"]  # the same bytes, re-registered
