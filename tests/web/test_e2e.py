"""End to end in a real browser: Debian's Chromium driven by Playwright against the
built web app that the live API serves at /app.

`make test` builds web/ and installs chromium before pytest runs. Screenshots go
to $WEB_SCREENSHOTS when set (else the test's tmp folder).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
from sqlalchemy import text
from sqlalchemy.engine import Engine

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
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert (WEB_DIST / "index.html").is_file(), "web/dist is missing: run `make web` (make test does)"
    assert Path(CHROMIUM).exists(), "chromium is missing: apt-get install -y chromium (make test does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("WEB_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-US")
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


def test_sign_up_apply_see_the_card_and_freeze_it(
    live_server: str, engine: Engine, page: tuple[Page, list[str]], shots: Path
) -> None:
    browser_page, problems = page
    email = f"ada.{uuid.uuid4().hex[:8]}+score790@example.com"

    browser_page.goto(f"{live_server}/app/")
    expect(browser_page.get_by_role("heading", name="Sign in")).to_be_visible()
    browser_page.get_by_role("link", name="Create an account").click()

    expect(browser_page.get_by_role("heading", name="Create your account")).to_be_visible()
    browser_page.get_by_label("Full name").fill("Ada Lovelace")
    browser_page.get_by_label("Email").fill(email)
    browser_page.get_by_label("Password").fill(PASSWORD)
    browser_page.screenshot(path=shots / "01-sign-up.png")
    browser_page.get_by_role("button", name="Sign up").click()

    expect(browser_page.get_by_role("heading", name="Apply for a card")).to_be_visible()
    browser_page.get_by_label("Annual income").fill("95,000")
    browser_page.get_by_label("Monthly rent or mortgage").fill("1500")
    browser_page.get_by_label("Employment").select_option("employed")
    browser_page.get_by_label("Date of birth").fill("1988-04-12")
    browser_page.get_by_label("Credit limit you would like").fill("5000")
    browser_page.get_by_role("button", name="Apply").click()

    expect(browser_page.get_by_role("heading", name="Your application: Approved")).to_be_visible()
    expect(browser_page.get_by_role("status")).to_contain_text("$5,000.00")
    browser_page.screenshot(path=shots / "02-approved.png", full_page=True)
    browser_page.get_by_role("link", name="See your account").click()

    expect(browser_page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(browser_page.get_by_test_id("current-balance")).to_have_text("$0.00")
    expect(browser_page.get_by_test_id("available-credit")).to_have_text("$5,000.00")
    browser_page.screenshot(path=shots / "03-overview.png", full_page=True)

    # A phone's width: nothing wider than the screen.
    browser_page.set_viewport_size({"width": 375, "height": 812})
    assert browser_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    browser_page.screenshot(path=shots / "04-overview-phone.png", full_page=True)
    browser_page.set_viewport_size({"width": 1100, "height": 900})

    browser_page.get_by_role("link", name="Card", exact=True).first.click()
    with engine.connect() as conn:
        last4 = conn.execute(text("select last4 from cards")).scalar_one()
    expect(browser_page.get_by_role("heading", name=f"Card ending in {last4}")).to_be_visible()
    expect(browser_page.get_by_test_id("card-status")).to_have_text("active")
    browser_page.get_by_role("button", name="Freeze card").click()
    expect(browser_page.get_by_test_id("card-status")).to_have_text("frozen")
    expect(browser_page.get_by_role("button", name="Unfreeze card")).to_have_attribute("aria-pressed", "true")
    browser_page.screenshot(path=shots / "05-card-frozen.png", full_page=True)

    with engine.connect() as conn:
        assert conn.execute(text("select status from cards")).scalar_one() == "frozen"
    # No script errors and no Content-Security-Policy violations along the way
    # (the statements lookup answers 404 until that API merges: the browser logs it).
    unexpected = [p for p in problems if not re.search(r"404 \(Not Found\)", p)]
    assert unexpected == []
