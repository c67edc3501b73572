from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.conftest import NETWORK_KEY
from tests.factories import customer, user_with_role

NET = {"X-Network-Key": NETWORK_KEY}
MERCHANT = {"name": "Corner Cafe", "mcc": "5812", "country": "US"}


def test_apply_authorize_clear_refund(api: TestClient, session: Session) -> None:
    user = customer(api, email="ada+score790@example.com")
    r = api.post(
        "/v1/applications",
        headers=user.headers,
        json={
            "annual_income": 90_000_00,
            "monthly_housing_payment": 1_200_00,
            "employment_status": "employed",
            "date_of_birth": "1990-01-01",
            "requested_credit_limit": 5_000_00,
        },
    )
    assert r.status_code == 201, r.text
    application = r.json()
    assert application["status"] == "approved"
    account_id = application["account_id"]
    cards = api.get(f"/v1/accounts/{account_id}/cards", headers=user.headers).json()["data"]
    card_id = cards[0]["id"]
    r = api.post(
        "/v1/network/authorizations",
        headers=NET,
        json={"card_id": card_id, "amount": 10_00, "currency": "USD", "merchant": MERCHANT},
    )
    assert r.status_code == 200, r.text
    auth = r.json()
    assert auth["approved"] is True
    assert auth["available_credit"] == 5_000_00 - 10_00
    r = api.post(f"/v1/network/authorizations/{auth['id']}/clear", headers=NET, json={"amount": 12_00})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "posted"
    r = api.post(
        "/v1/network/refunds",
        headers=NET,
        json={"card_id": card_id, "amount": 2_00, "merchant": MERCHANT, "authorization_id": auth["id"]},
    )
    assert r.status_code == 200, r.text
    account = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    assert account["current_balance"] == 10_00
    assert account["pending_amount"] == 0
    admin = user_with_role(api, session, "admin")
    tb = api.get("/v1/admin/ledger/trial-balance", headers=admin.headers).json()
    assert tb["balanced"] is True
    txns = api.get(f"/v1/accounts/{account_id}/transactions", headers=user.headers).json()["data"]
    assert [t["type"] for t in txns] == ["refund", "purchase"]
