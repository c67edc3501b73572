"""How fast the overview page first renders in Chromium, measured with the browser's
own timings (Navigation Timing, Paint Timing, and the app's User Timing mark
`overview-rendered`, set when the first account's figures are on screen).

It prints the medians and writes them to `first-render.json` beside the e2e
screenshots; it asserts what the numbers mean, never how large they are (2 shared
cores). web/README.md quotes a run.
"""

from __future__ import annotations

import gzip
import json
import statistics
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session, sessionmaker

from api.webapp import WEB_DIST
from tests.factories import PASSWORD, open_card_account, unique_email

RUNS = 5
TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const mark = performance.getEntriesByName("overview-rendered")[0];
  return {
    response_end: nav.responseEnd,
    dom_content_loaded: nav.domContentLoadedEventEnd,
    first_contentful_paint: paint ? paint.startTime : null,
    overview_rendered: mark ? mark.startTime : null,
    transferred: performance
      .getEntriesByType("resource")
      .reduce((n, r) => n + r.transferSize, nav.transferSize),
  };
}"""


@pytest.fixture
def signed_in(
    live_server: str, app: FastAPI, session_factory: sessionmaker[Session], page: tuple[Page, list[str]]
) -> Iterator[Page]:
    email = unique_email("render")
    with session_factory() as session:
        open_card_account(session, app, credit_limit=500_000, email=email)
    browser_page, problems = page
    browser_page.goto(f"{live_server}/app/signin")
    browser_page.get_by_label("Email").fill(email)
    browser_page.get_by_label("Password").fill(PASSWORD)
    browser_page.get_by_role("button", name="Sign in").click()
    expect(browser_page.get_by_test_id("current-balance")).to_have_text("$0.00")
    yield browser_page
    assert problems == []


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 1)


def test_overview_first_render(live_server: str, signed_in: Page, shots: Path) -> None:
    cdp = signed_in.context.new_cdp_session(signed_in)
    cdp.send("Network.enable")
    figures: dict[str, object] = {}
    for cache in ("cold", "warm"):
        runs = []
        for _ in range(RUNS):
            if cache == "cold":
                cdp.send("Network.clearBrowserCache")
            # A fresh page load: the session comes back from the refresh cookie, then the
            # accounts load and the figures render.
            signed_in.goto(f"{live_server}/app/")
            expect(signed_in.get_by_test_id("current-balance")).to_have_text("$0.00")
            timings = signed_in.evaluate(TIMINGS)
            assert timings["overview_rendered"] is not None
            assert timings["first_contentful_paint"] is not None
            assert 0 < timings["response_end"] <= timings["overview_rendered"]
            runs.append(timings)
        figures[cache] = {
            key: _median(runs, key)
            for key in ("response_end", "dom_content_loaded", "first_contentful_paint", "overview_rendered")
        }
        figures[cache]["transferred_bytes"] = int(statistics.median(r["transferred"] for r in runs))  # type: ignore[index]
    assert figures["cold"]["transferred_bytes"] > figures["warm"]["transferred_bytes"]  # type: ignore[index]

    bundle = {
        path.name: {"bytes": path.stat().st_size, "gzip_bytes": len(gzip.compress(path.read_bytes(), 9))}
        for path in sorted((WEB_DIST / "assets").iterdir())
        if path.suffix in (".js", ".css")
    }
    figures["bundle"] = bundle
    figures["runs"] = RUNS
    out = shots / "first-render.json"
    out.write_text(json.dumps(figures, indent=2))
    print(
        f"\nfirst render of the overview (ms, median of {RUNS}): {json.dumps(figures, indent=2)}"
    )  # shown with -s
