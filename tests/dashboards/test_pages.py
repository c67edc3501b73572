"""Every dashboard page rendered over the marts of the pipeline's small world, in AppTest and in Chromium."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from dashboards.auth import REFUSED_CUSTOMER, SESSION_KEY, Principal
from dashboards.ui import dollars, percent
from tests.dashboards.conftest import APP, REPO, Dashboards, sign_in
from tests.factories import PASSWORD, LoggedIn, customer

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.xdist_group("dashboards")


def metric(at: AppTest, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("info", "warning", "success", "error") for e in at.get(kind))


def check_overview(at: AppTest, d: Dashboards) -> None:
    last = d.pipeline.world.days[-1]
    volume = d.scalar(
        "select purchase_volume_cents from marts.rpt_card_activity_daily "
        "where mcc_group = 'all' and period_start = %s",
        last,
    )
    assert volume == d.pipeline.world.purchases[last]
    assert metric(at, "Purchase volume") == dollars(volume)  # today's, the first shown
    outstanding = d.scalar(
        "select outstanding_balance_cents from marts.rpt_receivables_daily where balance_date = %s", last
    )
    assert metric(at, "Outstanding receivables") == dollars(outstanding)
    revenue = d.scalar(  # null when the month has no interest or fees yet (shown as a dash)
        "select sum(total_income_cents) from marts.rpt_revenue_monthly where period_start = %s",
        last.replace(day=1),
    )
    assert metric(at, "Revenue (month)") == dollars(revenue)


def check_periodic(grain: str) -> Callable[[AppTest, Dashboards], None]:
    def check(at: AppTest, d: Dashboards) -> None:
        # The latest period with card activity is shown first: derived from the world's dates.
        shown = d.pipeline.world.activity_periods(grain)[-1]
        assert at.selectbox(key=f"{grain}_period").value == shown
        volume = d.scalar(
            f"select purchase_volume_cents from marts.rpt_card_activity_{grain} "
            "where mcc_group = 'all' and period_start = %s",
            shown,
        )
        rate = d.scalar(
            f"select approval_rate from marts.rpt_card_activity_{grain} "
            "where mcc_group = 'all' and period_start = %s",
            shown,
        )
        assert metric(at, "Purchase volume") == dollars(volume)
        assert metric(at, "Approval rate") == percent(rate)
        # The period's report files: buttons that fetch them through the API (audited) when pressed.
        labels = [b.label for b in at.button]
        assert any(label.startswith("Download card_activity_daily.csv") for label in labels) == (
            grain == "daily"
        )
        assert any(".xlsx" in label for label in labels), labels  # the period's report file
        assert len(at.get("vega_lite_chart")) == (3 if grain == "monthly" else 2)
        if grain == "monthly":
            # The roll-forward beside the prior month, tied to the ledger; the month-end buckets.
            closing = d.scalar(
                "select closing_receivables_cents from marts.rpt_finance_monthly where period_start = %s",
                shown,
            )
            frames = [f.value for f in at.dataframe]
            table = next(f for f in frames if list(f.columns) == ["line", "this month", "prior month"])
            assert table.iloc[-1]["line"] == "Closing receivables"
            assert table.iloc[-1]["this month"] == dollars(closing)
            assert [m.value for m in at.success] == ["Every line equals the ledger's, to the cent."]
            buckets = next(f for f in frames if "bucket" in f.columns)
            assert list(buckets["bucket"]) == ["Current", "1-29", "30-59", "60-89", "90+"]

    return check


def check_spending(at: AppTest, d: Dashboards) -> None:
    assert metric(at, "Purchase volume") == dollars(sum(d.pipeline.world.purchases.values()))
    assert len(at.get("vega_lite_chart")) == 4


def check_credit_risk(at: AppTest, d: Dashboards) -> None:
    outstanding = d.scalar(
        "select outstanding_balance_cents from marts.rpt_receivables_daily order by balance_date desc limit 1"
    )
    assert metric(at, "Outstanding receivables") == dollars(outstanding)
    latest = "select {} from marts.rpt_delinquency order by date_day desc limit 1"
    past_due = d.scalar(latest.format("accounts_count - current_count"))
    accounts = d.scalar(latest.format("accounts_count"))
    assert past_due == sum(1 for dpd in d.pipeline.world.days_past_due.values() if dpd > 0)
    assert metric(at, "Past due accounts") == f"{past_due} of {accounts}"
    thirty = d.scalar(latest.format("dpd_30_plus_count"))
    assert metric(at, "30+ days past due") == str(thirty)
    charged_off = d.scalar("select sum(charged_off_cents) from marts.rpt_delinquency")
    assert metric(at, "Charged off") == dollars(charged_off)
    assert "not built yet" not in texts(at)
    assert len(at.get("vega_lite_chart")) >= 3


def check_payments(at: AppTest, d: Dashboards) -> None:
    received = d.scalar("select sum(succeeded_cents) from marts.rpt_payments")
    truth = d.pipeline.world.payments.values()
    assert received == sum(p["amount"] for p in truth if p["status"] == "succeeded")
    assert metric(at, "Payments received") == dollars(received)
    failed = d.scalar("select sum(failed_count) from marts.rpt_payments")
    assert failed == sum(1 for p in truth if p["status"] == "failed")
    assert metric(at, "Failed payments") == str(failed)
    returned = d.scalar("select sum(returned_cents) from marts.rpt_payments")
    assert returned == sum(d.pipeline.world.returned.values())
    assert metric(at, "Returned payments") == dollars(returned)
    uptake = d.scalar("select autopay_uptake_rate from marts.rpt_payments order by payment_date desc limit 1")
    assert metric(at, "Autopay uptake") == percent(uptake)
    assert "not built yet" not in texts(at)
    assert len(at.get("vega_lite_chart")) == 2


def check_revenue(at: AppTest, d: Dashboards) -> None:
    latest = "(select max(period_start) from marts.rpt_revenue_monthly)"
    revenue = "select {} from marts.rpt_revenue_monthly where period_start = " + latest
    interest = d.scalar(revenue.format("interest_income_cents"))
    fees = d.scalar(revenue.format("fee_income_cents"))
    assert metric(at, "Interest income") == dollars(interest)
    assert metric(at, "Fee income") == dollars(fees)
    assert metric(at, "Total income") == dollars(int(interest) + int(fees))  # type: ignore[call-overload]
    total = d.scalar("select sum(total_income_cents) from marts.rpt_revenue_monthly")
    world = d.pipeline.world
    assert total == sum(world.interest.values()) + sum(world.fees.values())
    assert "not built yet" not in texts(at)


def check_applications(at: AppTest, d: Dashboards) -> None:
    assert metric(at, "Applications") == str(d.pipeline.world.applications)
    assert metric(at, "Approved") == str(d.pipeline.world.approved)


def check_api_health(at: AppTest, d: Dashboards) -> None:
    requests = d.scalar(
        "select sum(requests_count) from marts.rpt_api_usage_daily "
        "where request_date = (select max(request_date) from marts.rpt_api_usage_daily)"
    )
    assert metric(at, "Requests") == f"{int(requests):,}"  # type: ignore[call-overload]


def check_data_quality(at: AppTest, d: Dashboards) -> None:
    shown = texts(at)
    assert "reconcile to the cent" in shown
    assert "suites passed" in shown  # the pipeline's Great Expectations results
    assert "No Dagster runs readable" in shown
    assert "not tried again for" in shown  # why (no such database here), and for how long
    assert "No alerts in the sandbox outbox" in shown  # the world's run failed nothing
    frames = [frame.value for frame in at.dataframe]
    suites = next(f for f in frames if "suite" in f.columns)
    fresh = next(f for f in frames if "estimated_rows" in f.columns)
    # dbt's tests of the build that made these marts: each named with its model, all passed.
    assert "dbt tests passed" in shown
    tests = next(f for f in frames if "test_name" in f.columns)
    assert len(tests) > 50
    assert set(tests["status"]) == {"pass"}
    assert {"unit_test", "data_test"} == set(tests["kind"])
    assert {"fct_transactions", "rpt_finance_monthly", "int_account_delinquency_daily"} <= set(tests["model"])
    # Each suite named, with its table.
    assert suites["suite"].notna().all(), suites
    assert suites["table"].notna().all(), suites
    assert set(suites["table"]) >= {"fct_transactions", "rpt_ledger_reconciliation", "fct_payments"}
    assert all(suites["suite"] == suites["table"] + "_suite")
    # Every mart with rows shows some rows and its latest business day.
    for mart, estimated, latest in fresh[["mart", "estimated_rows", "latest_day"]].itertuples(index=False):
        rows = int(d.scalar(f"select count(*) from marts.{mart}"))  # type: ignore[call-overload]
        assert (estimated > 0) == (rows > 0), (mart, estimated, rows)
        if rows:
            assert not pd.isna(latest), mart


def check_report_files(at: AppTest, d: Dashboards) -> None:
    registered = d.scalar("select count(*) from reporting.report_files")
    assert len(at.dataframe[0].value) == registered
    # Fetched through the API when pressed (tests/dashboards/test_staff_security.py), not before.
    assert at.button(key="files_download").label == "Download"
    assert list(at.get("download_button")) == []


PAGES: dict[str, Callable[[AppTest, Dashboards], None]] = {
    "overview": check_overview,
    "daily": check_periodic("daily"),
    "weekly": check_periodic("weekly"),
    "monthly": check_periodic("monthly"),
    "report_files": check_report_files,
    "spending": check_spending,
    "credit_risk": check_credit_risk,
    "payments": check_payments,
    "applications": check_applications,
    "revenue": check_revenue,
    "api_health": check_api_health,
    "data_quality": check_data_quality,
}


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_the_marts_figures(dashboards: Dashboards, analyst: LoggedIn, page: str) -> None:
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30), analyst.email)
    if page != "overview":
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    PAGES[page](at, dashboards)


@pytest.fixture(scope="module")
def streamlit_server(dashboards: Dashboards) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    from cardportal.dashboards import command

    server = subprocess.Popen(
        command(host="127.0.0.1", port=port),
        env={**os.environ, **dashboards.env},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "streamlit exited"
            assert time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


# Every page as the sidebar names it, and the path Streamlit gives it.
NAV = [
    ("Overview", ""),
    ("Daily", "daily"),
    ("Weekly", "weekly"),
    ("Monthly", "monthly"),
    ("Report files", "report_files"),
    ("Spending", "spending"),
    ("Credit risk", "credit_risk"),
    ("Payments", "payments"),
    ("Applications", "applications"),
    ("Revenue", "revenue"),
    ("API health", "api_health"),
    ("Data quality", "data_quality"),
]


@contextmanager
def _signed_in_page(server: str, analyst: LoggedIn, *, width: int, height: int) -> Iterator[Page]:
    """Debian's Chromium on the dashboards, signed in as ``analyst`` (RECIPES.md, Streamlit tests)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(server)
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
            page.get_by_label("Email").fill(analyst.email)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            yield page
        finally:
            browser.close()


def test_sign_in_then_every_page_in_chromium(
    streamlit_server: str, dashboards: Dashboards, analyst: LoggedIn, screenshots: Path
) -> None:
    from playwright.sync_api import expect

    last = dashboards.pipeline.world.days[-1]
    with _signed_in_page(streamlit_server, analyst, width=1400, height=1800) as page:
        app = page.get_by_test_id("stApp")
        expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=30_000)
        expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=30_000)
        expect(page.get_by_test_id("stMetricValue").first).to_have_text(
            dollars(dashboards.pipeline.world.purchases[last])
        )
        expect(page.get_by_test_id("stSidebar")).to_contain_text(analyst.email)
        for label, path in NAV:
            if path:
                page.get_by_test_id("stSidebarNavLink").filter(has_text=label).first.click()
                page.wait_for_url(f"{streamlit_server}/{path}", timeout=30_000)
            expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=30_000)
            expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=30_000)
            expect(page.get_by_test_id("stException")).to_have_count(0)
            if label == "Daily":
                expect(page.get_by_test_id("stVegaLiteChart")).to_have_count(2, timeout=30_000)
            page.screenshot(path=str(screenshots / f"{path or 'overview'}.png"), full_page=True)
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=30_000)
    shots = sorted(p.name for p in screenshots.glob("*.png"))
    assert shots == sorted(f"{path or 'overview'}.png" for _, path in NAV)
    assert all((screenshots / name).stat().st_size > 10_000 for name in shots)
    print(f"dashboard screenshots in {screenshots}", file=sys.stderr)


def test_a_customer_is_refused(dashboards: Dashboards, api: TestClient) -> None:
    person = customer(api)
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30), person.email)
    assert not at.exception
    assert [e.value for e in at.error] == [REFUSED_CUSTOMER]
    assert SESSION_KEY not in at.session_state
    assert [t.value for t in at.title] == ["Sign in"]  # no page of figures


def test_a_wrong_password_is_refused(dashboards: Dashboards, analyst: LoggedIn) -> None:
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30), analyst.email, "not the password")
    assert [e.value for e in at.error] == ["Wrong email or password."]
    assert SESSION_KEY not in at.session_state


def test_an_analyst_signs_in_and_out(dashboards: Dashboards, analyst: LoggedIn, api: TestClient) -> None:
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30), analyst.email)
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    principal = at.session_state[SESSION_KEY]
    assert isinstance(principal, Principal)
    assert (principal.email, principal.role) == (analyst.email, "analyst")
    assert any(analyst.email in str(c.value) for c in at.sidebar.caption)

    at.button(key="sign_out").click().run()
    assert SESSION_KEY not in at.session_state
    assert [t.value for t in at.title] == ["Sign in"]
    assert "Signed out." in texts(at)
    # Sign-out revoked the session's refresh token at the API.
    refreshed = api.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": principal.refresh_token}
    )
    assert refreshed.status_code == 400, refreshed.text


# Every metric tile's label and value, cut short (an ellipsis: the text is wider than its box).
CUT_TILES = """() => [...document.querySelectorAll(
    '[data-testid="stMetricLabel"], [data-testid="stMetricValue"]')]
  .flatMap((el) => [el, ...el.querySelectorAll('*')])
  .filter((el) => el.scrollWidth > el.clientWidth + 1)
  .map((el) => el.textContent.trim())"""


def test_metric_tiles_are_never_cut_at_common_widths(
    streamlit_server: str, dashboards: Dashboards, analyst: LoggedIn
) -> None:
    from playwright.sync_api import expect

    cut: dict[str, list[str]] = {}
    with _signed_in_page(streamlit_server, analyst, width=1280, height=1200) as page:
        app = page.get_by_test_id("stApp")
        for label, path in [("Overview", ""), ("Daily", "daily"), ("Payments", "payments")]:
            if path:
                page.get_by_test_id("stSidebarNavLink").filter(has_text=label).first.click()
                page.wait_for_url(f"{streamlit_server}/{path}", timeout=30_000)
            expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=30_000)
            expect(page.get_by_test_id("stMetricValue").first).to_be_visible(timeout=30_000)
            for width in (1024, 1280, 1366, 1440, 1920):
                page.set_viewport_size({"width": width, "height": 1200})
                page.wait_for_timeout(300)  # the layout settles
                shown = page.evaluate(CUT_TILES)
                if shown:
                    cut[f"{label}@{width}"] = shown
    assert cut == {}


# Lineage (issue 22, finding 8): dbt's exposures say which marts each page and each report file
# reads; here each list is held to the queries the page or the report really runs.


def _exposures() -> dict[str, dict[str, Any]]:
    manifest = json.loads((REPO / "dbt" / "target" / "manifest.json").read_text())
    return {e["name"]: e for e in manifest["exposures"].values()}


def _declared_marts(exposure: dict[str, Any]) -> set[str]:
    return {node.split(".")[-1] for node in exposure["depends_on"]["nodes"]}


def _marts_named(sql: str) -> set[str]:
    return set(re.findall(r"\bmarts\.(\w+)", sql))


@pytest.mark.parametrize("page", [p for p in PAGES if p != "report_files"])
def test_each_page_reads_exactly_the_marts_its_exposure_declares(
    dashboards: Dashboards, analyst: LoggedIn, page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st

    from dashboards import data

    read: set[str] = set()
    run = data._read

    def recording(url: str, sql: str, params: dict[str, Any]) -> pd.DataFrame:
        read.update(_marts_named(sql))
        return run(url, sql, params)

    monkeypatch.setattr(data, "_read", recording)
    st.cache_data.clear()  # a cached query would not be seen
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30), analyst.email)  # on the overview
    if page != "overview":
        read.clear()
        st.cache_data.clear()
        at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    pages = {e["meta"]["page"]: e for e in _exposures().values() if e["type"] == "dashboard"}
    assert read, page
    assert _declared_marts(pages[page]) == read


def test_the_report_files_page_reads_no_mart() -> None:
    pages = {e["meta"]["page"] for e in _exposures().values() if e["type"] == "dashboard"}
    assert "report_files" not in pages  # it lists the registry (reporting.report_files)
    assert pages == {p for p in PAGES if p != "report_files"}


def test_each_report_reads_exactly_the_marts_its_exposure_declares(
    dashboards: Dashboards, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, materialize

    from pipelines import assets_reports

    world = dashboards.pipeline.world
    partitions = {
        "daily_activity_report": world.all_days[-1],
        "weekly_activity_report": world.activity_periods("weekly")[-1],
        "monthly_finance_pack": world.activity_periods("monthly")[-1],
    }
    reports = {e["meta"]["dagster_asset"]: e for e in _exposures().values() if e["type"] != "dashboard"}
    assert set(reports) == set(partitions)
    run = psycopg.Connection.execute
    for name, day in partitions.items():
        read: set[str] = set()

        def recording(conn: Any, sql: Any, *args: Any, read: set[str] = read, **kwargs: Any) -> Any:
            read.update(_marts_named(str(sql)))
            return run(conn, sql, *args, **kwargs)

        # Every query the report's asset runs on the warehouse, whichever helper runs it.
        monkeypatch.setattr(psycopg.Connection, "execute", recording)
        with DagsterInstance.ephemeral() as instance:
            asset = getattr(assets_reports, name)
            run_report = materialize(
                [asset],
                resources=dashboards.pipeline.resources,
                partition_key=day.isoformat(),
                instance=instance,
            )
            assert run_report.success
        assert read, name
        assert _declared_marts(reports[name]) == read, name


# Caching (issue 24): the pages' queries are cached by the warehouse's published version.


def test_a_new_publish_shows_on_the_next_render_and_not_before(
    dashboards: Dashboards, analyst: LoggedIn
) -> None:
    """Figures come from the cache until a run publishes; the render after a publish shows the new ones."""
    last = dashboards.pipeline.world.days[-1]
    volume = int(
        dashboards.scalar(  # type: ignore[call-overload]
            "select purchase_volume_cents from marts.rpt_card_activity_daily "
            "where mcc_group = 'all' and period_start = %s",
            last,
        )
    )
    changed = "update marts.rpt_card_activity_daily set purchase_volume_cents = purchase_volume_cents + %s "
    changed += "where mcc_group = 'all' and period_start = %s"
    # What publish_marts does last (pipelines/assets_publish.py): the day recorded as published now.
    published = (
        "insert into reporting.published_days (day, run_id) values (%s, 'test-republish') "
        "on conflict (day) do update set published_at = clock_timestamp()"
    )
    at = sign_in(AppTest.from_file(str(APP), default_timeout=30), analyst.email)
    assert metric(at, "Purchase volume") == dollars(volume)
    try:
        with dashboards.pipeline.warehouse() as conn:
            conn.execute(changed, (12_345, last))
        at.run()  # not published: the cached figure
        assert metric(at, "Purchase volume") == dollars(volume)
        with dashboards.pipeline.warehouse() as conn:
            conn.execute(published, (last,))
        at.run()
        assert metric(at, "Purchase volume") == dollars(volume + 12_345)
    finally:
        with dashboards.pipeline.warehouse() as conn:
            conn.execute(changed, (-12_345, last))
            conn.execute(published, (last,))
    at.run()
    assert metric(at, "Purchase volume") == dollars(volume)


def test_the_cache_holds_no_signed_in_user(dashboards: Dashboards, api: TestClient, session: Any) -> None:
    """Two staff members see the same marts, each signed in as themselves: the cached loaders are
    keyed by SQL, parameters and the published version only, never by who asks."""
    import inspect

    from dashboards import data
    from tests.factories import user_with_role

    first, second = user_with_role(api, session, "analyst"), user_with_role(api, session, "finance")
    one = sign_in(AppTest.from_file(str(APP), default_timeout=30), first.email)
    two = sign_in(AppTest.from_file(str(APP), default_timeout=30), second.email)  # from the cache
    for at, person, other in ((one, first, second), (two, second, first)):
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state[SESSION_KEY].email == person.email
        shown = " ".join(str(c.value) for c in at.sidebar.caption)
        assert person.email in shown
        assert other.email not in shown
    assert metric(one, "Purchase volume") == metric(two, "Purchase volume")
    from streamlit.runtime.caching.cache_utils import CachedFunc

    cached = [getattr(data, name) for name in dir(data) if isinstance(getattr(data, name), CachedFunc)]
    assert len(cached) > 3
    cached.remove(data.config)  # the process's readers' URLs and home
    keys = {p for f in cached for p in inspect.signature(f).parameters}
    assert keys <= {"sql", "params", "version", "url", "limit"}, keys
