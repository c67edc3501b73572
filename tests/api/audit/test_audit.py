"""The audit trail: each audited action leaves one row, in its own transaction, and nothing edits it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from api.ids import new_id
from cardportal.settings import Settings
from tests.conftest import problem
from tests.factories import (
    PASSWORD,
    application_body,
    approved_customer,
    customer,
    register,
    scored_email,
    user_with_role,
)


def events(engine: Engine, action: str | None = None) -> list[dict[str, Any]]:
    query = "select * from audit_events"
    if action:
        query += " where action = :action"
    with engine.connect() as conn:
        rows = conn.execute(text(query + " order by created_at, id"), {"action": action})
        return [dict(r._mapping) for r in rows]


def login_form(email: str, password: str) -> dict[str, str]:
    return {"grant_type": "password", "username": email, "password": password}


def test_a_login_is_audited_with_ip_and_request_id(api: TestClient, engine: Engine) -> None:
    user = register(api)
    r = api.post(
        "/v1/auth/token", data=login_form(user["email"], PASSWORD), headers={"X-Request-ID": "req-1"}
    )
    assert r.status_code == 200
    [event] = events(engine, "auth.login")
    assert event["actor_id"] == user["id"]
    assert event["target"] == user["id"]
    assert event["request_id"] == "req-1"
    assert event["ip"] == "testclient"
    assert event["id"].startswith("aud_")


def test_a_failed_login_is_audited_although_the_answer_is_400(api: TestClient, engine: Engine) -> None:
    user = register(api)
    r = api.post("/v1/auth/token", data=login_form(user["email"], "wrong password!"))
    problem(r, 400, "invalid_grant")
    r = api.post("/v1/auth/token", data=login_form("nobody@example.com", "wrong password!"))
    problem(r, 400, "invalid_grant")
    failed = events(engine, "auth.login_failed")
    assert [(e["actor_id"], e["target"], e["detail"]["reason"]) for e in failed] == [
        (user["id"], f"email:{user['email']}", "invalid_credentials"),
        (None, "email:nobody@example.com", "invalid_credentials"),
    ]
    # The password tried is never in the trail.
    assert "wrong password" not in str(failed)
    assert events(engine, "auth.login") == []


def test_a_locked_login_is_audited(make_client, engine: Engine) -> None:
    client = make_client(LOGIN_MAX_FAILURES="2")
    user = register(client)
    for _ in range(2):
        problem(client.post("/v1/auth/token", data=login_form(user["email"], "wrong password!")), 400)
    problem(client.post("/v1/auth/token", data=login_form(user["email"], PASSWORD)), 429, "login_locked")
    reasons = [e["detail"]["reason"] for e in events(engine, "auth.login_failed")]
    assert reasons == ["invalid_credentials", "invalid_credentials", "locked"]


def test_refresh_token_reuse_is_audited(api: TestClient, engine: Engine) -> None:
    user = customer(api)
    form = {"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    assert api.post("/v1/auth/token", data=form).status_code == 200
    problem(api.post("/v1/auth/token", data=form), 400, "invalid_grant")
    [event] = events(engine, "auth.refresh_token_reused")
    assert event["actor_id"] == user.user_id
    assert event["target"].startswith("fam_")
    assert user.refresh_token not in str(event)


def test_role_changes_name_the_admin_and_both_roles(
    api: TestClient, session: Session, engine: Engine
) -> None:
    admin = user_with_role(api, session, "admin")
    user = register(api)
    r = api.post(f"/v1/admin/users/{user['id']}/role", headers=admin.headers, json={"role": "finance"})
    assert r.status_code == 200, r.text
    [event] = events(engine, "user.role_changed")
    assert (event["actor_id"], event["target"]) == (admin.user_id, user["id"])
    assert event["detail"] == {"from": "customer", "to": "finance"}
    assert event["request_id"] == r.headers["x-request-id"]


def test_an_admin_decision_is_audited(api: TestClient, session: Session, engine: Engine) -> None:
    admin = user_with_role(api, session, "admin")
    user = customer(api, email=scored_email(650))
    app_id = api.post("/v1/applications", headers=user.headers, json=application_body()).json()["id"]
    r = api.post(f"/v1/applications/{app_id}/decision", headers=admin.headers, json={"decision": "declined"})
    assert r.status_code == 200, r.text
    [event] = events(engine, "application.decided")
    assert (event["actor_id"], event["target"]) == (admin.user_id, app_id)
    assert event["detail"]["decision"] == "declined"
    # A refused second decision (409) leaves no second row.
    r = api.post(f"/v1/applications/{app_id}/decision", headers=admin.headers, json={"decision": "approved"})
    problem(r, 409)
    assert len(events(engine, "application.decided")) == 1


def test_freezes_and_controls_are_audited_and_a_refused_one_is_not(api: TestClient, engine: Engine) -> None:
    user, _, card_id = approved_customer(api)
    assert api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers).status_code == 200
    assert api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers).status_code == 200
    controls = {"blocked_countries": ["RU"], "per_authorization_limit": 10_000}
    assert api.put(f"/v1/cards/{card_id}/controls", headers=user.headers, json=controls).status_code == 200
    other = customer(api)
    problem(api.post(f"/v1/cards/{card_id}/freeze", headers=other.headers), 404)

    trail = [
        (e["action"], e["actor_id"], e["target"]) for e in events(engine) if e["action"].startswith("card")
    ]
    assert trail == [
        ("card.frozen", user.user_id, card_id),
        ("card.unfrozen", user.user_id, card_id),
        ("card.controls_changed", user.user_id, card_id),
    ]
    [change] = events(engine, "card.controls_changed")
    assert change["detail"]["to"]["blocked_countries"] == ["RU"]


def test_a_clock_move_is_audited(api: TestClient, session: Session, engine: Engine) -> None:
    admin = user_with_role(api, session, "admin")
    r = api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 1})
    assert r.status_code == 200, r.text
    [event] = events(engine, "clock.advanced")
    assert event["actor_id"] == admin.user_id
    assert event["detail"]["days"] == 1
    assert event["detail"]["previous"] == r.json()["previous"].replace("Z", "+00:00")


def test_the_trail_is_append_only_in_the_database(api: TestClient, engine: Engine) -> None:
    register(api)  # one auth.registered
    api.post("/v1/auth/token", data=login_form("nobody@example.com", "wrong password!"))
    assert len(events(engine)) == 2
    for statement in ("update audit_events set actor_id = 'usr_x'", "delete from audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    [event] = events(engine, "auth.login_failed")
    assert event["actor_id"] is None


def test_admins_list_the_trail_with_filters_and_cursors(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")  # one auth.login
    user = register(api)
    for _ in range(3):
        api.post("/v1/auth/token", data=login_form(user["email"], "wrong password!"))

    r = api.get(
        "/v1/admin/audit-events", headers=admin.headers, params={"action": "auth.login_failed", "limit": 2}
    )
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page["data"]) == 2
    assert page["next_cursor"]
    assert {"id", "actor_id", "action", "target", "ip", "request_id", "created_at"} <= page["data"][0].keys()
    rest = api.get(
        "/v1/admin/audit-events",
        headers=admin.headers,
        params={"action": "auth.login_failed", "cursor": page["next_cursor"]},
    ).json()
    assert len(rest["data"]) == 1
    assert rest["next_cursor"] is None
    ids = [e["id"] for e in page["data"] + rest["data"]]
    assert len(set(ids)) == 3

    mine = api.get("/v1/admin/audit-events", headers=admin.headers, params={"actor_id": admin.user_id}).json()
    # The admin's login, then each of their reads of the trail (itself audited), newest first.
    assert [e["action"] for e in mine["data"]] == ["admin.audit_read"] * 2 + ["auth.login"]
    everything = api.get("/v1/admin/audit-events", headers=admin.headers).json()["data"]
    assert [e["created_at"] for e in everything] == sorted(
        (e["created_at"] for e in everything), reverse=True
    )


def test_only_admins_read_the_trail(api: TestClient, session: Session) -> None:
    for role in ("customer", "analyst", "finance"):
        user = customer(api) if role == "customer" else user_with_role(api, session, role)
        problem(api.get("/v1/admin/audit-events", headers=user.headers), 403, "insufficient_role")
    problem(api.get("/v1/admin/audit-events"), 401)
    admin = user_with_role(api, session, "admin")
    problem(api.get("/v1/admin/audit-events", headers=admin.headers, params={"action": "x;drop"}), 422)


@pytest.fixture
def registered_report(warehouse_url: str, settings: Settings) -> Iterator[tuple[str, str]]:
    """A CSV report file in the reports folder and its row in the warehouse's registry; (id, file)."""
    from cardportal.database import libpq_conninfo

    report_id, name = new_id("rpt"), "daily_activity"
    folder = settings.reports_dir / "daily"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{report_id}.csv"
    path.write_text("day,purchases_cents\n2030-01-01,1250\n")
    rows = [
        (report_id, name, "daily", "2030-01-01", "csv", f"daily/{path.name}"),
        # A registered path that leaves the reports folder: refused (404) and never audited.
        (new_id("rpt"), name, "daily", "2030-01-02", "csv", "../../etc/passwd"),
    ]
    with psycopg.connect(libpq_conninfo(warehouse_url)) as conn:
        for row in rows:
            conn.execute(
                "insert into reporting.report_files "
                "(id, name, period, period_start, format, path, size_bytes, sha256, run_id) "
                "values (%s, %s, %s, %s, %s, %s, 0, 'x', 'run_test')",
                row,
            )
    yield report_id, path.name
    with psycopg.connect(libpq_conninfo(warehouse_url)) as conn:
        conn.execute("delete from reporting.report_files where id = any(%s)", ([r[0] for r in rows],))
    path.unlink()


def test_a_report_download_is_audited_with_the_file_and_request_id(
    api: TestClient, session: Session, engine: Engine, registered_report: tuple[str, str], warehouse_url: str
) -> None:
    report_id, file_name = registered_report
    reader = user_with_role(api, session, "finance")
    r = api.get(f"/v1/reports/{report_id}/download", headers={**reader.headers, "X-Request-ID": "req-dl-1"})
    assert r.status_code == 200, r.text
    assert r.text.startswith("day,purchases_cents")
    [event] = events(engine, "report.downloaded")
    assert (event["actor_id"], event["target"]) == (reader.user_id, report_id)
    assert event["request_id"] == "req-dl-1"
    assert event["ip"] == "testclient"
    assert event["detail"]["file"] == file_name
    assert event["detail"]["format"] == "csv"

    # Refused downloads (a missing report, a path out of the folder, a customer) leave no row.
    from cardportal.database import libpq_conninfo

    with psycopg.connect(libpq_conninfo(warehouse_url)) as conn:
        row = conn.execute("select id from reporting.report_files where path like '../%%'").fetchone()
    assert row is not None
    problem(api.get(f"/v1/reports/{row[0]}/download", headers=reader.headers), 404, "report_file_missing")
    problem(api.get("/v1/reports/rpt_missing/download", headers=reader.headers), 404, "report_not_found")
    problem(api.get(f"/v1/reports/{report_id}/download", headers=customer(api).headers), 403)
    assert len(events(engine, "report.downloaded")) == 1

    # Admins find it with the trail's filters.
    admin = user_with_role(api, session, "admin")
    found = api.get(
        "/v1/admin/audit-events",
        headers=admin.headers,
        params={"action": "report.downloaded", "actor_id": reader.user_id},
    ).json()["data"]
    assert [(e["target"], e["request_id"]) for e in found] == [(report_id, "req-dl-1")]


def test_every_audited_kind_is_written_and_filterable(
    api: TestClient, session: Session, engine: Engine, registered_report: tuple[str, str]
) -> None:
    """One pass over the kinds the threat model names: each lands in the trail, and the action
    filter returns exactly its own events."""
    admin = user_with_role(api, session, "admin")  # auth.login
    user, _, card_id = approved_customer(api)
    api.post("/v1/auth/token", data=login_form(user.email, "wrong password!"))  # auth.login_failed
    api.post(f"/v1/admin/users/{register(api)['id']}/role", headers=admin.headers, json={"role": "analyst"})
    applicant = customer(api, email=scored_email(650))
    app_id = api.post("/v1/applications", headers=applicant.headers, json=application_body()).json()["id"]
    api.post(f"/v1/applications/{app_id}/decision", headers=admin.headers, json={"decision": "declined"})
    api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers)
    api.post("/v1/sandbox/clock/advance", headers=admin.headers, json={"days": 1})
    api.get(f"/v1/reports/{registered_report[0]}/download", headers=admin.headers)

    kinds = (
        "auth.login",
        "auth.login_failed",
        "user.role_changed",
        "application.decided",
        "card.frozen",
        "clock.advanced",
        "report.downloaded",
    )
    written = {e["action"] for e in events(engine)}
    assert set(kinds) <= written
    for kind in kinds:
        page = api.get(
            "/v1/admin/audit-events", headers=admin.headers, params={"action": kind, "limit": 200}
        ).json()
        assert page["data"], kind
        assert {e["action"] for e in page["data"]} == {kind}
        assert all(e["request_id"] for e in page["data"]), kind
