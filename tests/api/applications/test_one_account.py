"""Issue 21, finding 2: no stacked credit lines. One open card account per customer; a higher
limit is asked for on the account and decided by the same ability-to-pay rules (API.md)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.applications.models import Application
from api.audit.models import AuditEvent
from tests.conftest import problem
from tests.factories import application_body, approved_customer, customer, scored_email


def _accounts_of(session: Session, user_id: str) -> int:
    session.expire_all()
    return session.execute(
        select(func.count()).select_from(Account).where(Account.user_id == user_id)
    ).scalar_one()


def _applications_of(session: Session, user_id: str) -> int:
    return session.execute(
        select(func.count()).select_from(Application).where(Application.user_id == user_id)
    ).scalar_one()


def test_an_approved_customer_cannot_open_a_second_account(api: TestClient, session: Session) -> None:
    """Before: each approval opened another account and card ($75,000 in three calls)."""
    user, account_id, _ = approved_customer(api)
    again = api.post("/v1/applications", headers=user.headers, json=application_body())
    body = problem(again, 409)
    assert body["code"] == "account_exists"
    assert account_id in body["detail"]
    assert (_accounts_of(session, user.user_id), _applications_of(session, user.user_id)) == (1, 1)


def test_two_applications_at_once_open_one_account(api: TestClient, session: Session) -> None:
    user = customer(api, email=scored_email(800))

    def apply(n: int) -> int:
        headers = {**user.headers, "Idempotency-Key": f"stack-{n}"}
        return api.post("/v1/applications", headers=headers, json=application_body()).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(apply, range(4)))
    assert statuses == [201, 409, 409, 409]
    assert _accounts_of(session, user.user_id) == 1


def test_a_higher_limit_is_asked_for_on_the_account(api: TestClient, session: Session) -> None:
    user, account_id, _ = approved_customer(api, requested_credit_limit=2_000_00)
    before = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    assert before["credit_limit"] == 2_000_00

    path = f"/v1/accounts/{account_id}/credit-limit-requests"
    headers = {**user.headers, "Idempotency-Key": "more-credit"}
    r = api.post(path, headers=headers, json={"requested_credit_limit": 3_000_00})
    assert r.status_code == 201, r.text
    raised = r.json()
    assert (raised["status"], raised["credit_limit"], raised["previous_credit_limit"]) == (
        "approved",
        3_000_00,
        2_000_00,
    )
    after = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    assert after["credit_limit"] == 3_000_00
    assert after["available_credit"] == before["available_credit"] + 1_000_00
    # The same key replays the first answer and raises nothing again.
    assert api.post(path, headers=headers, json={"requested_credit_limit": 3_000_00}).json() == raised
    audited = session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "credit_limit.requested")
    ).scalar_one()
    assert audited == 1

    # Not a higher limit: bad input, nothing changes.
    lower = api.post(
        path, headers={**user.headers, "Idempotency-Key": "lower"}, json={"requested_credit_limit": 1}
    )
    assert problem(lower, 422)["code"] == "credit_limit_not_higher"


def test_a_limit_beyond_what_income_supports_is_declined_with_reasons(api: TestClient) -> None:
    """Approved without a requested limit, the account has the most the rules allow on this
    income: any more is declined (an adverse action with its reason), and the limit stays."""
    user, account_id, _ = approved_customer(
        api, requested_credit_limit=None, annual_income=40_000_00, monthly_housing_payment=500_00
    )
    limit = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()["credit_limit"]
    r = api.post(
        f"/v1/accounts/{account_id}/credit-limit-requests",
        headers={**user.headers, "Idempotency-Key": "too-much"},
        json={"requested_credit_limit": limit + 50_000_00},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["credit_limit"], body["reasons"]) == (
        "declined",
        limit,
        ["insufficient_income"],
    )
    assert body["reason_details"][0]["description"]
    assert api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()["credit_limit"] == limit


def test_another_customers_account_is_a_404_for_a_limit_request(api: TestClient) -> None:
    _, account_id, _ = approved_customer(api)
    intruder, _, _ = approved_customer(api)
    r = api.post(
        f"/v1/accounts/{account_id}/credit-limit-requests",
        headers={**intruder.headers, "Idempotency-Key": "intrude"},
        json={"requested_credit_limit": 9_000_00},
    )
    problem(r, 404)


def test_a_limit_at_the_score_tiers_cap_is_declined_for_the_cap(api: TestClient) -> None:
    """A near-prime score's tier caps the line (the underwriting's tier table): at the cap, more
    is declined for the cap, not for income."""
    user, account_id, _ = approved_customer(
        api, score=790, requested_credit_limit=None, annual_income=500_000_00
    )
    limit = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()["credit_limit"]
    r = api.post(
        f"/v1/accounts/{account_id}/credit-limit-requests",
        headers={**user.headers, "Idempotency-Key": "cap"},
        json={"requested_credit_limit": limit + 1_000_00},
    )
    assert r.json()["reasons"] == ["credit_limit_at_tier_maximum"], r.text
