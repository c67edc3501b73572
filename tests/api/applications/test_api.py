"""Applications through HTTP: the sandbox guarantee, declines and reviews with reasons,
one open application at a time, the admin's decision, visibility, bad input, idempotency."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.applications.models import Application
from api.cards.models import Card
from tests.factories import LoggedIn, application_body, customer, scored_email, user_with_role


def apply(api: TestClient, user: LoggedIn, **overrides: object) -> Any:
    return api.post("/v1/applications", headers=user.headers, json=application_body(**overrides))


def counts(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(  # type: ignore[return-value]
        session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Application, Account, Card)
    )


def years_ago(api: TestClient, years: int, *, days: int = 0) -> str:
    today = api.app.state.clock.now().date()  # type: ignore[attr-defined]
    birthday = today.replace(year=today.year - years, day=min(today.day, 28))
    return date.fromordinal(birthday.toordinal() + days).isoformat()


def test_sandbox_guarantee_approves_and_opens_an_account_with_a_card(api: TestClient) -> None:
    user = customer(api, email=scored_email(780))
    # Exactly on every threshold: $60,000 a year, housing 25 % of monthly income, 18 today.
    r = apply(
        api,
        user,
        annual_income=60_000_00,
        monthly_housing_payment=1_250_00,
        date_of_birth=years_ago(api, 18),
        requested_credit_limit=2_000_00,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "approved"
    assert 0 < body["credit_limit"] <= 2_000_00
    assert body["apr_bps"] == 1_999
    assert body["reasons"] == []
    assert body["id"].startswith("app_")
    assert body["account_id"].startswith("acct_")
    account = api.get(f"/v1/accounts/{body['account_id']}", headers=user.headers).json()
    assert account["credit_limit"] == body["credit_limit"]
    assert account["apr_bps"] == body["apr_bps"]
    cards = api.get(f"/v1/accounts/{body['account_id']}/cards", headers=user.headers).json()["data"]
    assert len(cards) == 1
    assert cards[0]["status"] == "active"


@pytest.mark.parametrize("score", [300, 559])
def test_score_under_560_is_declined_with_low_credit_score(
    api: TestClient, session: Session, score: int
) -> None:
    user = customer(api, email=scored_email(score))
    r = apply(api, user)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "declined"
    assert "low_credit_score" in body["reasons"]
    assert body["account_id"] is None
    assert body["credit_limit"] is None
    assert counts(session)[1:] == (0, 0)


def test_underage_applicant_is_declined(api: TestClient, session: Session) -> None:
    user = customer(api, email=scored_email(820))
    r = apply(api, user, date_of_birth=years_ago(api, 18, days=1))  # 18 tomorrow
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "declined"
    assert r.json()["reasons"] == ["underage"]
    assert counts(session)[1:] == (0, 0)


def test_zero_income_is_declined_as_insufficient(api: TestClient, session: Session) -> None:
    user = customer(api, email=scored_email(820))
    r = apply(api, user, annual_income=0, monthly_housing_payment=0)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "declined"
    assert r.json()["reasons"][0] == "insufficient_income"
    assert counts(session)[1:] == (0, 0)


def test_middle_band_goes_to_manual_review_and_blocks_a_second_application(
    api: TestClient, session: Session
) -> None:
    user = customer(api, email=scored_email(650))
    r = apply(api, user)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "manual_review"
    assert body["reasons"] == ["borderline_credit_score"]
    assert body["account_id"] is None
    assert body["reason_details"][0]["description"]

    again = apply(api, user)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "application_pending"
    assert counts(session) == (1, 0, 0)


def review(api: TestClient, score: int = 650) -> tuple[LoggedIn, str]:
    user = customer(api, email=scored_email(score))
    r = apply(api, user)
    assert r.json()["status"] == "manual_review", r.text
    return user, r.json()["id"]


def test_admin_approval_opens_the_account_at_the_rules_limit(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")
    user, app_id = review(api)
    r = api.post(f"/v1/applications/{app_id}/decision", headers=admin.headers, json={"decision": "approved"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "approved"
    # Near-prime tier: 27.99 %, capped at $3,000 (below the $5,000 requested).
    assert body["credit_limit"] == 3_000_00
    assert body["apr_bps"] == 2_799
    assert body["account_id"].startswith("acct_")
    assert body["decided_at"] is not None
    account = api.get(f"/v1/accounts/{body['account_id']}", headers=user.headers)
    assert account.status_code == 200
    assert account.json()["available_credit"] == 3_000_00
    cards = api.get(f"/v1/accounts/{body['account_id']}/cards", headers=user.headers).json()["data"]
    assert len(cards) == 1

    twice = api.post(
        f"/v1/applications/{app_id}/decision", headers=admin.headers, json={"decision": "declined"}
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "application_already_decided"
    assert counts(session) == (1, 1, 1)
    # Decided, so no longer pending; but approved, so the customer holds an open account and
    # a second one is refused (issue 21: no stacked credit lines).
    again = apply(api, user)
    assert again.status_code == 409
    assert again.json()["code"] == "account_exists"
    assert counts(session) == (1, 1, 1)


def test_admin_approval_with_a_limit_and_above_the_cap(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")
    _, app_id = review(api)
    url = f"/v1/applications/{app_id}/decision"
    too_high = api.post(url, headers=admin.headers, json={"decision": "approved", "credit_limit": 3_000_01})
    assert too_high.status_code == 422
    assert too_high.json()["code"] == "invalid_credit_limit"
    for bad in (0, -1, 1.5, "100000"):
        r = api.post(url, headers=admin.headers, json={"decision": "approved", "credit_limit": bad})
        assert r.status_code == 422, bad
    assert counts(session) == (1, 0, 0)
    r = api.post(url, headers=admin.headers, json={"decision": "approved", "credit_limit": 1_200_00})
    assert r.status_code == 200, r.text
    assert r.json()["credit_limit"] == 1_200_00
    assert counts(session) == (1, 1, 1)


def test_admin_decline_keeps_the_reasons(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")
    _, app_id = review(api)
    r = api.post(f"/v1/applications/{app_id}/decision", headers=admin.headers, json={"decision": "declined"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined"
    assert r.json()["reasons"] == ["borderline_credit_score"]
    assert r.json()["account_id"] is None
    assert counts(session) == (1, 0, 0)


def test_decision_needs_an_admin_and_an_existing_application(api: TestClient, session: Session) -> None:
    user, app_id = review(api)
    r = api.post(f"/v1/applications/{app_id}/decision", headers=user.headers, json={"decision": "approved"})
    assert r.status_code == 403
    assert r.json()["code"] == "insufficient_role"
    admin = user_with_role(api, session, "admin")
    missing = api.post(
        "/v1/applications/app_nope/decision", headers=admin.headers, json={"decision": "approved"}
    )
    assert missing.status_code == 404
    bad = api.post(f"/v1/applications/{app_id}/decision", headers=admin.headers, json={"decision": "maybe"})
    assert bad.status_code == 422
    assert counts(session) == (1, 0, 0)


def test_customers_see_only_their_own_applications(api: TestClient) -> None:
    ada = customer(api, email=scored_email(790))
    bob = customer(api, email=scored_email(400))
    ada_app = apply(api, ada).json()
    bob_app = apply(api, bob).json()

    listed = api.get("/v1/applications", headers=ada.headers).json()
    assert [a["id"] for a in listed["data"]] == [ada_app["id"]]
    assert listed["next_cursor"] is None
    assert api.get(f"/v1/applications/{ada_app['id']}", headers=ada.headers).json() == ada_app
    other = api.get(f"/v1/applications/{bob_app['id']}", headers=ada.headers)
    assert other.status_code == 404
    assert other.json()["code"] == "application_not_found"
    assert api.get("/v1/applications/app_nope", headers=ada.headers).status_code == 404
    assert api.get("/v1/applications").status_code == 401


BAD_APPLICATIONS: list[dict[str, object]] = [
    {"annual_income": -1},
    {"annual_income": 60_000.5},
    {"annual_income": "6000000"},
    {"annual_income": True},
    {"annual_income": 2**63},
    {"annual_income": 10**30},
    {"monthly_housing_payment": -100},
    {"monthly_housing_payment": 2**63},
    {"employment_status": "astronaut"},
    {"employment_status": None},
    {"date_of_birth": "2999-01-01"},
    {"date_of_birth": "0001-01-01"},
    {"date_of_birth": "1990-02-30"},
    {"date_of_birth": "yesterday"},
    {"requested_credit_limit": 299_99},
    {"requested_credit_limit": 0},
    {"requested_credit_limit": -5_000_00},
    {"requested_credit_limit": 2**63},
    {"favourite_colour": "blue"},
]


@pytest.mark.parametrize("overrides", BAD_APPLICATIONS, ids=lambda o: repr(o)[:40])
def test_bad_input_is_a_422_and_creates_nothing(
    api: TestClient, session: Session, overrides: dict[str, object]
) -> None:
    user = customer(api, email=scored_email(790))
    r = apply(api, user, **overrides)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert counts(session) == (0, 0, 0)


def test_missing_fields_and_no_body_are_422(api: TestClient, session: Session) -> None:
    user = customer(api, email=scored_email(790))
    body = application_body()
    del body["date_of_birth"]
    assert api.post("/v1/applications", headers=user.headers, json=body).status_code == 422
    assert api.post("/v1/applications", headers=user.headers).status_code == 422
    assert counts(session) == (0, 0, 0)


def test_idempotency_key_replays_the_application(api: TestClient, session: Session) -> None:
    user = customer(api, email=scored_email(790))
    headers = user.headers | {"Idempotency-Key": "apply-once"}
    first = api.post("/v1/applications", headers=headers, json=application_body())
    assert first.status_code == 201, first.text
    again = api.post("/v1/applications", headers=headers, json=application_body())
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert counts(session) == (1, 1, 1)
    changed = api.post(
        "/v1/applications", headers=headers, json=application_body(requested_credit_limit=1_000_00)
    )
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"
    assert counts(session) == (1, 1, 1)
