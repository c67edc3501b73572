"""One real pipeline run over a small world: extract, dbt build, Great Expectations, publish, reports."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import customer, user_with_role
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
    first, planted_day = pipeline.world.days[0], pipeline.world.days[1]
    with pipeline.warehouse() as conn:
        loaded = conn.execute(
            "select count(*) from raw.api_requests where _partition_date = %s", (first,)
        ).fetchone()
        planted = conn.execute(
            "select request_id, route, status from raw.api_requests where _partition_date = %s",
            (planted_day,),
        ).fetchall()
        quarantined = conn.execute(
            "select reason from raw.api_requests_quarantine where _partition_date = %s order by line_number",
            (planted_day,),
        ).fetchall()
        usage = conn.execute(
            "select requests_count, p50_ms, p95_ms, p99_ms from marts.rpt_api_usage_daily "
            "where route = '/v1/network/authorizations' and method = 'POST'"
        ).fetchall()
    assert loaded is not None
    assert loaded[0] > 0
    assert planted == [("r2", "/healthz", 200)]
    assert [r[0] for r in quarantined] == [
        "invalid JSON: Expecting value",
        "invalid JSON: Expecting ',' delimiter",
        "status has the wrong type",
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


def test_weekly_report_and_monthly_finance_pack(pipeline: Pipeline) -> None:
    from dagster import DagsterInstance, materialize

    from pipelines.assets_reports import monthly_finance_pack, weekly_activity_report

    first = pipeline.world.days[0]
    monday = first - timedelta(days=first.weekday())
    month = first.replace(day=1)
    digests = []
    for _ in range(2):  # twice: the same bytes each time, the PDF included
        with DagsterInstance.ephemeral() as instance:
            assert materialize(
                [weekly_activity_report],
                resources=pipeline.resources,
                partition_key=monday.isoformat(),
                instance=instance,
            ).success
            assert materialize(
                [monthly_finance_pack],
                resources=pipeline.resources,
                partition_key=month.isoformat(),
                instance=instance,
            ).success
        with pipeline.warehouse() as conn:
            digests.append(
                conn.execute(
                    "select name, period, period_start, format, path, sha256 from reporting.report_files "
                    "where period <> 'daily' order by name, format"
                ).fetchall()
            )
            monthly_volume = conn.execute(
                "select purchase_volume_cents from marts.rpt_card_activity_monthly "
                "where period_start = %s and mcc_group = 'all'",
                (month,),
            ).fetchone()
    assert digests[0] == digests[1]
    assert [(r[0], r[1], r[3]) for r in digests[0]] == [
        ("card_activity_weekly", "weekly", "csv"),
        ("card_activity_weekly", "weekly", "xlsx"),
        ("finance_pack_monthly", "monthly", "csv"),
        ("finance_pack_monthly", "monthly", "pdf"),
        ("finance_pack_monthly", "monthly", "xlsx"),
    ]
    files = {r[3]: pipeline.home / "reports" / r[4] for r in digests[0] if r[0] == "finance_pack_monthly"}
    assert files["pdf"].read_bytes().startswith(b"%PDF-")
    assert files["xlsx"].read_bytes().startswith(b"PK")
    daily = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    assert monthly_volume is not None
    assert sum(Decimal(r["purchase_volume_usd"]) for r in daily) * 100 == monthly_volume[0]
    assert sum(pipeline.world.purchases.values()) <= monthly_volume[0]


def test_reports_api_lists_and_downloads_for_finance_and_refuses_a_customer(
    pipeline: Pipeline, api: TestClient, session: Session
) -> None:
    finance = user_with_role(api, session, "finance")
    listed = api.get("/v1/reports?limit=200", headers=finance.headers)
    assert listed.status_code == 200, listed.text
    reports = listed.json()["data"]
    daily_csv = next(r for r in reports if r["name"] == "card_activity_daily" and r["format"] == "csv")
    assert {r["period"] for r in reports} >= {"daily"}
    download = api.get(f"/v1/reports/{daily_csv['id']}/download", headers=finance.headers)
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert hashlib.sha256(download.content).hexdigest() == daily_csv["sha256"]

    someone = customer(api)
    assert api.get("/v1/reports", headers=someone.headers).status_code == 403
    assert api.get(f"/v1/reports/{daily_csv['id']}/download", headers=someone.headers).status_code == 403
    assert api.get("/v1/reports").status_code == 401


def test_a_registered_path_outside_the_reports_folder_is_never_served(
    pipeline: Pipeline, api: TestClient, session: Session
) -> None:
    finance = user_with_role(api, session, "finance")
    secret = pipeline.home / "secrets" / "pii_hash_salt"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text("not for download")
    with pipeline.warehouse() as conn:
        conn.execute(
            "insert into reporting.report_files (id, name, period, period_start, format, path, size_bytes, "
            "sha256, run_id) values ('rpt_escape', 'x', 'daily', '2026-01-01', 'csv', "
            "'../secrets/pii_hash_salt', 1, 'x', 'x')"
        )
        conn.commit()
    try:
        r = api.get("/v1/reports/rpt_escape/download", headers=finance.headers)
        assert r.status_code == 404
        assert r.json()["code"] == "report_file_missing"
        assert api.get("/v1/reports/rpt_nope/download", headers=finance.headers).status_code == 404
    finally:
        with pipeline.warehouse() as conn:
            conn.execute("delete from reporting.report_files where id = 'rpt_escape'")
            conn.commit()


def test_a_one_cent_difference_fails_the_blocking_check_and_stops_the_reports(pipeline: Pipeline) -> None:
    """Planted in raw: a posted purchase of one cent that the ledger never saw."""
    from dagster import DagsterInstance, materialize

    from tests.pipelines.conftest import daily_selection

    day = pipeline.world.days[1]
    account = pipeline.world.accounts[0]
    with pipeline.warehouse() as conn:
        before = conn.execute("select count(*), max(created_at) from reporting.report_files").fetchone()
        conn.execute(
            "insert into raw.transactions (id, account_id, type, status, amount, authorized_amount, "
            "currency, merchant_name, merchant_mcc, merchant_country, refunded_amount, created_at, "
            "posted_at, _partition_date) values ('auth_planted', %s, 'purchase', 'posted', 1, 1, 'USD', "
            "'Ghost', '5411', 'US', 0, %s::date + time '12:00', %s::date + time '12:00', %s)",
            (account, day, day, day),
        )
        conn.commit()
    try:
        # The extracts are not re-run (they would replace the planted slice): dbt onwards.
        selection = daily_selection()[len(daily_selection()) - 5 :]
        with DagsterInstance.ephemeral() as instance:
            result = materialize(
                selection,
                resources=pipeline.resources,
                partition_key=day.isoformat(),
                instance=instance,
                raise_on_error=False,
            )
            checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
            materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert not result.success
        assert checks["great_expectations_rpt_ledger_reconciliation"] is False
        assert checks["great_expectations_fct_transactions"] is True
        assert "published_marts" not in materialized
        assert "daily_activity_report" not in materialized
        with pipeline.warehouse() as conn:
            staged = conn.execute(
                "select posted_difference_cents from marts_staging.rpt_ledger_reconciliation "
                "where movement_date = %s",
                (day,),
            ).fetchone()
            published = conn.execute(
                "select posted_difference_cents from marts.rpt_ledger_reconciliation "
                "where movement_date = %s",
                (day,),
            ).fetchone()
            after = conn.execute("select count(*), max(created_at) from reporting.report_files").fetchone()
        assert staged == (1,)  # the bad row reached the staging marts...
        assert published == (0,)  # ...and never what readers see
        assert after == before
    finally:
        with pipeline.warehouse() as conn:
            conn.execute("delete from raw.transactions where id = 'auth_planted'")
            conn.commit()
