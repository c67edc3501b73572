"""Browser fixtures for the web tests: Debian's Chromium through Playwright, one page
per test (console errors and page errors collected), and the screenshots folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from api.webapp import WEB_DIST

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert (WEB_DIST / "index.html").is_file(), "web/dist is missing: run `make web` (make test does)"
    assert Path(CHROMIUM).exists(), "chromium is missing: apt-get install -y chromium (make test does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    """Where the screenshots go: $WEB_SCREENSHOTS, else /tmp/cardportal-web-screenshots/<checkout>
    (outside pytest's own temporary folders, which other runs on the machine rotate away)."""
    default = (
        Path(tempfile.gettempdir()) / "cardportal-web-screenshots" / Path(__file__).resolve().parents[2].name
    )
    folder = Path(os.environ.get("WEB_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nweb screenshots: {folder}")  # shown with -s, or with a failure
    return folder


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, locale="en-US", accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page, problems
    context.close()
