"""Issue 21, finding 6: the audit trail's gaps against PCI DSS 10.2 (10.2.1.1 every individual
access to cardholder data, 10.2.1.2 every action by anyone with administrative access,
10.2.1.3 access to the audit logs, 10.2.1.5 changes to identification and authentication
credentials, including new accounts), each now one event."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.jobs import daily as daily_job
from tests.api.audit.test_audit import events
from tests.api.billing.helpers import at, move_clock_to, purchase
from tests.factories import PASSWORD, login, open_card_account, register, user_with_role


def test_registration_and_logout_are_audited(api: TestClient, engine: Engine) -> None:
    user = register(api)
    [registered] = events(engine, "auth.registered")
    assert (registered["actor_id"], registered["target"]) == (user["id"], user["id"])
    assert registered["ip"] == "testclient"

    session = login(api, user["email"], PASSWORD)
    assert api.post("/v1/auth/logout", json={"refresh_token": session.refresh_token}).status_code == 204
    [logout] = events(engine, "auth.logout")
    assert logout["actor_id"] == user["id"]
    assert logout["target"].startswith("fam_")
    assert logout["detail"] == {"family_revoked": True}


def test_admin_reads_of_users_and_of_the_trail_itself_are_audited(
    api: TestClient, session: Session, engine: Engine
) -> None:
    admin = user_with_role(api, session, "admin")
    assert api.get("/v1/admin/users", headers=admin.headers).status_code == 200
    [read] = events(engine, "admin.users_read")
    assert (read["actor_id"], read["target"]) == (admin.user_id, "users")

    assert api.get("/v1/admin/audit-events?action=auth.login", headers=admin.headers).status_code == 200
    [trail] = events(engine, "admin.audit_read")
    assert trail["actor_id"] == admin.user_id
    assert trail["detail"]["action"] == "auth.login"
    # The next reader of the trail sees that read.
    page = api.get("/v1/admin/audit-events?action=admin.audit_read", headers=admin.headers).json()
    assert [e["actor_id"] for e in page["data"]] == [admin.user_id]


def test_staff_reading_a_customers_data_is_audited_and_a_customer_reading_theirs_is_not(
    app: FastAPI, api: TestClient, session: Session, session_factory: sessionmaker[Session], engine: Engine
) -> None:
    move_clock_to(app, at(2031, 1, 3))
    email = "audited-holder@example.com"
    _, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00, email=email)
    purchase(session, card_id, 100_00, app.state.clock.now())
    daily_job.advance_clock(session_factory, app.state.clock, to=at(2031, 2, 5))
    holder = login(api, email, PASSWORD)
    admin = user_with_role(api, session, "admin")
    [statement] = api.get(f"/v1/accounts/{account_id}/statements", headers=holder.headers).json()["data"]

    paths = {
        "account": f"/v1/accounts/{account_id}",
        "transactions": f"/v1/accounts/{account_id}/transactions",
        "statements": f"/v1/accounts/{account_id}/statements",
        "statement": f"/v1/statements/{statement['id']}",
        "statement_pdf": f"/v1/statements/{statement['id']}/pdf",
    }
    for path in paths.values():
        assert api.get(path, headers=holder.headers).status_code == 200, path
    assert events(engine, "staff.customer_data_read") == []

    for path in paths.values():
        assert api.get(path, headers=admin.headers).status_code == 200, path
    reads = events(engine, "staff.customer_data_read")
    assert [e["detail"]["what"] for e in reads] == list(paths)
    assert {e["actor_id"] for e in reads} == {admin.user_id}
    assert {e["detail"]["owner_id"] for e in reads} == {holder.user_id}


def test_autopay_changes_are_audited(api: TestClient, session: Session, app: FastAPI, engine: Engine) -> None:
    email = "autopay-holder@example.com"
    _, account_id, _ = open_card_account(session, app, credit_limit=2_000_00, email=email)
    holder = login(api, email, PASSWORD)
    r = api.put(f"/v1/accounts/{account_id}/autopay", headers=holder.headers, json={"enabled": False})
    assert r.status_code == 200, r.text
    [changed] = events(engine, "autopay.changed")
    assert (changed["actor_id"], changed["target"]) == (holder.user_id, account_id)
    assert changed["detail"]["enabled"] is False
