"""End to end in a real browser: Debian's Chromium driven by Playwright against the
built web app that the live API serves at /app.

One customer's whole journey: sign up, apply and get approved, see the card, a
purchase through the network endpoint, freeze and see a decline, pay with a Stripe
test card (the balance drops once), move the sandbox clock and download the
statement PDF, reload (the refresh cookie keeps the session), sign out.

`make test` builds web/ and installs chromium before pytest runs. Screenshots of
every page (and the statement PDF) go to $WEB_SCREENSHOTS when set, else to
/tmp/cardportal-web-screenshots/<checkout folder name>/; the folder is printed.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth.cookies import CSRF_COOKIE, REFRESH_COOKIE
from api.ledger import service as ledger
from cardportal.settings import Settings
from cardportal.stripe_emulator import Emulator
from tests.conftest import NETWORK_KEY
from tests.factories import user_with_role

PASSWORD = "correct horse battery staple"
MERCHANT = {"name": "Corner Grocer", "mcc": "5411", "country": "US"}


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _authorize(live_server: str, card_id: str, amount: int) -> dict[str, object]:
    """The card network asks to authorise a purchase (a machine caller, as in API.md)."""
    response = httpx.post(
        f"{live_server}/v1/network/authorizations",
        headers={"X-Network-Key": NETWORK_KEY},
        json={"card_id": card_id, "amount": amount, "currency": "USD", "merchant": MERCHANT},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _scalar(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_a_customers_whole_journey(
    live_server: str,
    engine: Engine,
    api: TestClient,
    app: FastAPI,
    settings: Settings,
    session_factory: sessionmaker[Session],
    stripe_sandbox: Emulator,
    page: tuple[Page, list[str]],
    shots: Path,
) -> None:
    browser_page, problems = page
    email = f"ada.{uuid.uuid4().hex[:8]}+score790@example.com"
    stripe_sandbox.register_webhook(
        f"{live_server}/v1/webhooks/stripe", settings.secret("stripe_webhook_secret")
    )

    # --- sign up, apply, approved -------------------------------------------------------
    browser_page.goto(f"{live_server}/app/")
    expect(browser_page.get_by_role("heading", name="Sign in")).to_be_visible()
    browser_page.screenshot(path=shots / "01-sign-in.png")
    browser_page.get_by_role("link", name="Create an account").click()

    expect(browser_page.get_by_role("heading", name="Create your account")).to_be_visible()
    browser_page.get_by_label("Full name").fill("Ada Lovelace")
    browser_page.get_by_label("Email").fill(email)
    browser_page.get_by_label("Password").fill(PASSWORD)
    browser_page.screenshot(path=shots / "02-sign-up.png")
    browser_page.get_by_role("button", name="Sign up").click()

    expect(browser_page.get_by_role("heading", name="Apply for a card")).to_be_visible()
    browser_page.get_by_label("Annual income").fill("95,000")
    browser_page.get_by_label("Monthly rent or mortgage").fill("1500")
    browser_page.get_by_label("Employment").select_option("employed")
    browser_page.get_by_label("Date of birth").fill("1988-04-12")
    browser_page.get_by_label("Credit limit you would like").fill("5000")
    browser_page.screenshot(path=shots / "03-apply.png", full_page=True)
    browser_page.get_by_role("button", name="Apply").click()

    expect(browser_page.get_by_role("heading", name="Your application: Approved")).to_be_visible()
    expect(browser_page.get_by_role("status")).to_contain_text("$5,000.00")
    browser_page.screenshot(path=shots / "04-approved.png", full_page=True)
    browser_page.get_by_role("link", name="See your account").click()

    expect(browser_page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(browser_page.get_by_test_id("current-balance")).to_have_text("$0.00")
    expect(browser_page.get_by_test_id("available-credit")).to_have_text("$5,000.00")
    browser_page.screenshot(path=shots / "05-overview.png", full_page=True)

    # The browser holds the refresh token only in the HttpOnly cookie; nothing in storage.
    cookies = {c["name"]: c for c in browser_page.context.cookies()}
    assert cookies[REFRESH_COOKIE]["httpOnly"] is True
    assert cookies[REFRESH_COOKIE]["sameSite"] == "Strict"
    assert cookies[REFRESH_COOKIE]["path"] == "/v1/auth"
    assert cookies[CSRF_COOKIE]["httpOnly"] is False
    assert browser_page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert REFRESH_COOKIE not in browser_page.evaluate("document.cookie")

    # A phone's width: nothing wider than the screen.
    browser_page.set_viewport_size({"width": 375, "height": 812})
    assert browser_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    browser_page.screenshot(path=shots / "06-overview-phone.png", full_page=True)
    browser_page.set_viewport_size({"width": 1100, "height": 900})

    # --- the card, a purchase through the network --------------------------------------
    browser_page.get_by_role("link", name="Card", exact=True).first.click()
    with engine.connect() as conn:
        card_id, last4, account_id = conn.execute(text("select id, last4, account_id from cards")).one()
    expect(browser_page.get_by_role("heading", name=f"Card ending in {last4}")).to_be_visible()
    expect(browser_page.get_by_test_id("card-status")).to_have_text("active")
    browser_page.screenshot(path=shots / "07-card.png", full_page=True)

    purchase = _authorize(live_server, card_id, 12_345)
    assert purchase["approved"] is True, purchase
    cleared = httpx.post(
        f"{live_server}/v1/network/authorizations/{purchase['id']}/clear",
        headers={"X-Network-Key": NETWORK_KEY},
        json={"amount": 12_345},
        timeout=30,
    )
    assert cleared.status_code == 200, cleared.text

    browser_page.get_by_role("link", name="Transactions").click()
    expect(browser_page.get_by_role("heading", name="Transactions")).to_be_visible()
    row = browser_page.get_by_role("row").filter(has_text="Corner Grocer")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("posted")
    expect(row).to_contain_text("$123.45")
    browser_page.screenshot(path=shots / "08-transactions.png", full_page=True)

    # --- freeze, and the next purchase is declined --------------------------------------
    browser_page.get_by_role("link", name="Card", exact=True).first.click()
    browser_page.get_by_role("button", name="Freeze card").click()
    expect(browser_page.get_by_test_id("card-status")).to_have_text("frozen")
    expect(browser_page.get_by_role("button", name="Unfreeze card")).to_have_attribute("aria-pressed", "true")
    browser_page.screenshot(path=shots / "09-card-frozen.png", full_page=True)
    assert _scalar(engine, "select status from cards") == "frozen"

    declined = _authorize(live_server, card_id, 2_000)
    assert declined["approved"] is False
    assert declined["decline_code"] == "card_frozen"
    browser_page.get_by_role("link", name="Transactions").click()
    declined_row = browser_page.get_by_role("row").filter(has_text="declined")
    expect(declined_row).to_have_count(1)
    expect(declined_row).to_contain_text("card frozen")
    expect(declined_row).to_contain_text("$20.00")
    browser_page.screenshot(path=shots / "10-transactions-declined.png", full_page=True)

    # --- pay with a Stripe test card: the balance drops once -----------------------------
    browser_page.get_by_role("link", name="Payments").click()
    expect(browser_page.get_by_role("heading", name="Payments")).to_be_visible()
    expect(browser_page.locator("p.lead")).to_contain_text("$123.45")
    pay_now = browser_page.get_by_role("form", name="Pay now")
    pay_now.get_by_label("Amount in dollars").fill("100")
    pay_now.get_by_label("Pay from (Stripe test card)").select_option("pm_card_visa")
    pay_now.get_by_role("button", name="Pay").click()
    expect(pay_now.get_by_role("status")).to_contain_text("$100.00")
    expect(browser_page.locator("p.lead")).to_contain_text("$23.45")
    history = browser_page.get_by_role("table").get_by_role("row").filter(has_text="$100.00")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("succeeded")
    browser_page.screenshot(path=shots / "11-payments.png", full_page=True)

    # Stripe's webhook for the same PaymentIntent arrives afterwards and changes nothing.
    _wait_for(
        lambda: (
            _scalar(engine, "select count(*) from stripe_events where type = 'payment_intent.succeeded'") == 1
        ),
        "the payment_intent.succeeded webhook",
    )
    assert _scalar(engine, "select count(*) from payments") == 1
    assert _scalar(engine, "select count(*) from payments where status = 'succeeded'") == 1
    with session_factory() as session:
        assert ledger.balances(session, [account_id])[account_id].current_balance == 2_345
        assert ledger.trial_balance(session).balanced
    browser_page.reload()
    expect(browser_page.locator("p.lead")).to_contain_text("$23.45")  # also: the reload kept the session

    # --- move the sandbox clock past the cycle, download the statement -----------------
    admin = user_with_role(api, session_factory(), "admin")
    moved = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 35})
    assert moved.status_code == 200, moved.text
    browser_page.get_by_role("link", name="Statements").click()
    expect(browser_page.get_by_role("heading", name="Statements")).to_be_visible()
    statement_row = browser_page.get_by_role("row").filter(has=browser_page.get_by_role("button"))
    expect(statement_row).to_have_count(1)
    expect(statement_row).to_contain_text("$23.45")  # 123.45 bought, 100.00 paid
    browser_page.screenshot(path=shots / "12-statements.png", full_page=True)
    with browser_page.expect_download() as download_info:
        statement_row.get_by_role("button", name=re.compile("Download PDF")).click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    pdf = shots / download.suggested_filename
    download.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")

    browser_page.get_by_role("link", name="Overview").first.click()
    expect(browser_page.get_by_text("Minimum payment")).to_be_visible()
    browser_page.screenshot(path=shots / "13-overview-due.png", full_page=True)

    # --- sign out: the family is revoked and the cookies are gone ------------------------
    browser_page.get_by_role("button", name="Sign out").click()
    expect(browser_page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The page forgets the tokens at once; the logout answer clears the cookies just after.
    _wait_for(
        lambda: not {REFRESH_COOKIE, CSRF_COOKIE} & {c["name"] for c in browser_page.context.cookies()},
        "the logout answer to clear the cookies",
    )
    assert _scalar(engine, "select count(*) from refresh_tokens where revoked_at is null") == _scalar(
        engine,
        "select count(*) from refresh_tokens where user_id = :id and revoked_at is null",
        id=admin.user_id,
    )
    browser_page.reload()
    expect(browser_page.get_by_role("heading", name="Sign in")).to_be_visible()

    # No script errors and no Content-Security-Policy violations along the way.
    assert problems == []
