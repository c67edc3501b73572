"""The dashboards' part of issue 21, findings 6 and 7, through the real API (uvicorn on loopback).

- Sign-in asks for the one-time code when the API answers ``mfa_required``.
- In production a staff member without a second factor sees only the enrolment page, and
  enrolling there leads to a sign-in with a code.
- Report files are fetched through the API (audited ``report.downloaded``), with the staff
  member's IP in ``X-Forwarded-For``.

No pipeline run: an empty warehouse (pages say "not built yet") and a registered report file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pyotp
import pytest
import streamlit as st
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from dashboards import auth, data, reports
from dashboards.auth import SESSION_KEY, Principal
from tests.api.audit.test_audit import events, registered_report
from tests.api.auth.test_mfa import enrolled, next_code, production_app
from tests.conftest import login_password, serving
from tests.dashboards.conftest import APP, sign_in
from tests.factories import PASSWORD, LoggedIn, user_with_role

__all__ = ["production_app", "registered_report"]  # fixtures shared by import


@pytest.fixture
def dashboards_env(live_server: str, warehouse_url: str, reader_logins: None) -> Iterator[None]:
    """The dashboards against the session's API and its (empty) warehouse, as their own login."""
    from cardportal.settings import get_settings
    from cardportal.warehouse import DASHBOARDS_LOGIN, as_login, ensure_warehouse

    ensure_warehouse(warehouse_url)
    env = {
        "CARDPORTAL_API_URL": live_server,
        "DASHBOARDS_WAREHOUSE_URL": as_login(warehouse_url, DASHBOARDS_LOGIN, login_password()),
        "DASHBOARDS_DAGSTER_URL": as_login(
            warehouse_url.replace("_warehouse", "_no_dagster"), DASHBOARDS_LOGIN, login_password()
        ),
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)

    def forget() -> None:
        get_settings.cache_clear()
        data.config.clear()  # type: ignore[attr-defined]
        st.cache_data.clear()

    forget()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        forget()


def app_test() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=30)


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def test_sign_in_asks_for_the_code(dashboards_env: None, api: TestClient, session: Session) -> None:
    analyst = user_with_role(api, session, "analyst")
    secret = enrolled(api, analyst)

    at = sign_in(app_test(), analyst.email)
    assert not at.exception, [e.value for e in at.exception]
    assert SESSION_KEY not in at.session_state
    assert titles(at) == ["Sign in"]
    assert "one-time code" in " ".join(i.value for i in at.info)
    wrong = "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    at.text_input(key="sign_in_code").input(wrong)
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong email, password or one-time code."]
    assert SESSION_KEY not in at.session_state

    at.text_input(key="sign_in_code").input(next_code(secret))
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    principal = at.session_state[SESSION_KEY]
    assert isinstance(principal, Principal)
    assert (principal.email, principal.enrolment_only) == (analyst.email, False)
    assert titles(at) == ["Overview"]


def test_a_report_download_goes_through_the_api(
    dashboards_env: None,
    api: TestClient,
    session: Session,
    engine: Engine,
    registered_report: tuple[str, str],
) -> None:
    report_id, file_name = registered_report
    analyst = user_with_role(api, session, "analyst")
    at = sign_in(app_test(), analyst.email)
    at.switch_page("views/report_files.py").run()
    at.selectbox(key="files_choice").set_value(report_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert events(engine, "report.downloaded") == []  # rendering fetches nothing

    at.button(key="files_download").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [event] = events(engine, "report.downloaded")
    assert (event["actor_id"], event["target"]) == (analyst.user_id, report_id)
    assert [b.label for b in at.get("download_button")] == [f"Save {file_name}"]


def test_the_staff_members_ip_reaches_the_audit_trail(
    live_server: str,
    monkeypatch: pytest.MonkeyPatch,
    api: TestClient,
    session: Session,
    engine: Engine,
    registered_report: tuple[str, str],
) -> None:
    """The browser's IP, not the dashboards' host's: uvicorn trusts X-Forwarded-For from loopback."""
    monkeypatch.setenv("CARDPORTAL_API_URL", live_server)
    report_id, _ = registered_report
    analyst = user_with_role(api, session, "analyst")
    principal = auth.sign_in(analyst.email, PASSWORD, ip="203.0.113.7")
    assert reports.fetch_report(principal, report_id, ip="203.0.113.7").startswith(b"day,purchases_cents")
    [download] = events(engine, "report.downloaded")
    assert (download["actor_id"], download["ip"]) == (analyst.user_id, "203.0.113.7")
    logins = [e for e in events(engine, "auth.login") if e["actor_id"] == analyst.user_id]
    assert logins[-1]["ip"] == "203.0.113.7"


def test_an_idle_dashboards_session_ends(
    dashboards_env: None, app: FastAPI, api: TestClient, session: Session, engine: Engine
) -> None:
    """The next page run after 15 idle minutes renews the token, the API refuses (session_idle),
    and the dashboards ask for a sign-in again, saying why."""
    from dataclasses import replace

    from tests.api.auth.test_mfa import SteppedClock

    analyst = user_with_role(api, session, "analyst")
    at = sign_in(app_test(), analyst.email)
    assert titles(at) == ["Overview"]
    # A page run a minute after the token was issued renews it, though it has not expired: the
    # renewal is the activity the API's idle timeout counts.
    before = at.session_state[SESSION_KEY]
    assert before.renew_at < before.expires_at
    at.session_state[SESSION_KEY] = replace(before, renew_at=1.0)
    at.run()
    assert titles(at) == ["Overview"]
    assert at.session_state[SESSION_KEY].refresh_token != before.refresh_token

    saved, clock = app.state.clock, SteppedClock()
    clock.ahead = timedelta(minutes=15, seconds=1)
    app.state.clock = clock
    try:
        at.session_state[SESSION_KEY] = replace(at.session_state[SESSION_KEY], renew_at=0.0, expires_at=0.0)
        at.run()
    finally:
        app.state.clock = saved
    assert not at.exception, [e.value for e in at.exception]
    assert titles(at) == ["Sign in"]
    assert SESSION_KEY not in at.session_state
    assert "idle for 15 minutes" in " ".join(i.value for i in at.info)
    [event] = events(engine, "auth.session_idle")
    assert event["actor_id"] == analyst.user_id


# --- production: enrolment from the dashboards ---------------------------------------------------


def test_production_staff_enrol_from_the_dashboards(
    dashboards_env: None, production_app: FastAPI, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(production_app) as production, serving(production_app) as url:
        monkeypatch.setenv("CARDPORTAL_API_URL", url)
        admin: LoggedIn = user_with_role(production, session, "admin")
        at = sign_in(app_test(), admin.email)
        assert not at.exception, [e.value for e in at.exception]
        assert titles(at) == ["Set up your second factor"]
        assert at.session_state[SESSION_KEY].enrolment_only is True
        at.button(key="mfa_start").click().run()
        secret = at.code[0].value
        assert at.code[1].value.startswith("otpauth://totp/")
        at.text_input(key="mfa_code").input(pyotp.TOTP(secret).now())
        [confirm] = [b for b in at.button if b.label == "Confirm"]
        confirm.click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert titles(at) == ["Sign in"]
        assert SESSION_KEY not in at.session_state
        assert "sign in again with a code" in " ".join(i.value for i in at.info)

        at.text_input(key="sign_in_email").input(admin.email)
        at.text_input(key="sign_in_password").input(PASSWORD)
        at.text_input(key="sign_in_code").input(next_code(secret))
        at.button[0].click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state[SESSION_KEY].enrolment_only is False
        assert titles(at) == ["Overview"]
