"""Cards through HTTP: what leaves the service, the number at rest, freeze and unfreeze,
ownership, and spending controls (each one declining with `spending_control`)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cards.models import Card
from api.cards.numbers import SANDBOX_BIN, CardDataError, luhn_valid
from tests.conftest import problem
from tests.factories import GROCER, NETWORK_HEADERS, approved_customer, customer, user_with_role

CAFE = {"name": "Corner Cafe", "mcc": "5812", "country": "US"}
NO_CONTROLS = {
    "blocked_mcc_groups": [],
    "blocked_countries": [],
    "per_authorization_limit": None,
    "daily_limit": None,
    "monthly_limit": None,
}


def authorize(api: TestClient, card_id: str, amount: int, merchant: dict[str, str] = GROCER) -> Any:
    r = api.post(
        "/v1/network/authorizations",
        headers=NETWORK_HEADERS,
        json={"card_id": card_id, "amount": amount, "currency": "USD", "merchant": merchant},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_cards_show_last4_and_expiry_and_store_the_number_encrypted(
    api: TestClient, session: Session, app: FastAPI
) -> None:
    user, account_id, card_id = approved_customer(api)
    r = api.get(f"/v1/accounts/{account_id}/cards", headers=user.headers)
    assert r.status_code == 200
    assert r.json()["next_cursor"] is None
    (card,) = r.json()["data"]
    assert {"id", "last4", "exp_month", "exp_year", "status"} <= set(card)
    assert not {"pan", "number", "cvv", "cvc", "pan_ciphertext", "pan_lookup_hash"} & set(card)
    assert re.fullmatch(r"[0-9]{4}", card["last4"])
    assert 1 <= card["exp_month"] <= 12
    # No card number anywhere in what leaves the service, in any form.
    for path in (f"/v1/accounts/{account_id}/cards", f"/v1/cards/{card_id}/freeze"):
        text = (api.get if path.endswith("cards") else api.post)(path, headers=user.headers).text
        assert not re.search(r"[0-9]{13,19}", text), text

    row = session.execute(select(Card).where(Card.id == card_id)).scalar_one()
    vault = app.state.card_vault
    pan = vault.decrypt(row.pan_ciphertext, row.id)
    assert len(pan) == 16
    assert pan.startswith(SANDBOX_BIN)
    assert luhn_valid(pan)
    assert pan[-4:] == card["last4"] == row.last4
    assert pan.encode() not in row.pan_ciphertext
    assert pan not in row.pan_ciphertext.hex()
    assert vault.lookup_hash(pan) == row.pan_lookup_hash
    assert pan not in row.pan_lookup_hash
    # Bound to its card: the same blob on another card's row does not decrypt.
    with pytest.raises(CardDataError):
        vault.decrypt(row.pan_ciphertext, "card_other")


def test_freeze_declines_and_unfreeze_approves_again(api: TestClient) -> None:
    user, account_id, card_id = approved_customer(api)
    assert authorize(api, card_id, 10_00)["approved"] is True

    r = api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "frozen"
    assert api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers).json()["status"] == "frozen"
    frozen = authorize(api, card_id, 10_00)
    assert frozen["approved"] is False
    assert frozen["decline_code"] == "card_frozen"
    cards = api.get(f"/v1/accounts/{account_id}/cards", headers=user.headers).json()["data"]
    assert cards[0]["status"] == "frozen"

    r = api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "active"
    assert authorize(api, card_id, 10_00)["approved"] is True
    account = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    assert account["pending_amount"] == 20_00


def test_a_card_the_issuer_froze_stays_frozen_until_staff_unfreeze_it(
    api: TestClient, session: Session
) -> None:
    """Issue 21, finding 11: a card an admin froze (suspected fraud) could be unfrozen by its
    customer. Who froze it is kept; the customer's unfreeze is 409 and changes nothing."""
    user, _, card_id = approved_customer(api)
    admin = user_with_role(api, session, "admin")
    assert api.post(f"/v1/cards/{card_id}/freeze", headers=admin.headers).json()["status"] == "frozen"

    refused = problem(api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers), 409)
    assert refused["code"] == "card_frozen_by_issuer"
    assert authorize(api, card_id, 10_00)["decline_code"] == "card_frozen"
    # Freezing it again as the customer is harmless, and does not make the freeze theirs.
    assert api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers).status_code == 200
    problem(api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers), 409)

    assert api.post(f"/v1/cards/{card_id}/unfreeze", headers=admin.headers).json()["status"] == "active"
    assert authorize(api, card_id, 10_00)["approved"] is True
    # A customer's own freeze is still theirs to lift; staff taking it over make it staff's.
    api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers)
    assert api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers).json()["status"] == "active"
    api.post(f"/v1/cards/{card_id}/freeze", headers=user.headers)
    api.post(f"/v1/cards/{card_id}/freeze", headers=admin.headers)
    problem(api.post(f"/v1/cards/{card_id}/unfreeze", headers=user.headers), 409)


def test_another_customers_card_is_a_404(api: TestClient) -> None:
    owner, _, card_id = approved_customer(api)
    stranger = customer(api)
    for method, path in (
        ("post", "freeze"),
        ("post", "unfreeze"),
        ("get", "controls"),
        ("put", "controls"),
    ):
        kwargs: dict[str, Any] = {"headers": stranger.headers}
        if method == "put":
            kwargs["json"] = {"blocked_countries": ["US"]}
        r = api.request(method.upper(), f"/v1/cards/{card_id}/{path}", **kwargs)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == "card_not_found"
    assert api.post("/v1/cards/card_nope/freeze", headers=owner.headers).status_code == 404
    # Nothing changed for the owner.
    assert api.get(f"/v1/cards/{card_id}/controls", headers=owner.headers).json() == NO_CONTROLS
    assert authorize(api, card_id, 1_00)["approved"] is True
    assert api.post(f"/v1/cards/{card_id}/freeze").status_code == 401


def put_controls(api: TestClient, headers: dict[str, str], card_id: str, **controls: object) -> Any:
    r = api.put(f"/v1/cards/{card_id}/controls", headers=headers, json=controls)
    assert r.status_code == 200, r.text
    return r.json()


def test_controls_default_and_round_trip(api: TestClient) -> None:
    user, _, card_id = approved_customer(api)
    r = api.get(f"/v1/cards/{card_id}/controls", headers=user.headers)
    assert r.status_code == 200
    assert r.json() == NO_CONTROLS
    saved = put_controls(
        api,
        user.headers,
        card_id,
        blocked_mcc_groups=["gambling", "gambling", "cash_advance"],
        blocked_countries=["RU", "KP"],
        per_authorization_limit=500_00,
        daily_limit=1_000_00,
        monthly_limit=3_000_00,
    )
    assert saved == {
        "blocked_mcc_groups": ["gambling", "cash_advance"],
        "blocked_countries": ["RU", "KP"],
        "per_authorization_limit": 500_00,
        "daily_limit": 1_000_00,
        "monthly_limit": 3_000_00,
    }
    assert api.get(f"/v1/cards/{card_id}/controls", headers=user.headers).json() == saved
    # PUT replaces: an empty body clears every control.
    assert put_controls(api, user.headers, card_id) == NO_CONTROLS


def assert_control_decline(api: TestClient, card_id: str, amount: int, merchant: dict[str, str]) -> None:
    declined = authorize(api, card_id, amount, merchant)
    assert declined["approved"] is False
    assert declined["decline_code"] == "spending_control"


def test_blocked_mcc_group_declines_only_that_group(api: TestClient) -> None:
    user, account_id, card_id = approved_customer(api)
    put_controls(api, user.headers, card_id, blocked_mcc_groups=["restaurants"])
    assert_control_decline(api, card_id, 10_00, CAFE)
    assert_control_decline(api, card_id, 10_00, CAFE | {"mcc": "5814"})
    assert authorize(api, card_id, 10_00, GROCER)["approved"] is True
    account = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    assert account["pending_amount"] == 10_00
    history = api.get(f"/v1/accounts/{account_id}/transactions", headers=user.headers).json()["data"]
    assert [(t["status"], t["decline_code"]) for t in history] == [
        ("pending", None),
        ("declined", "spending_control"),
        ("declined", "spending_control"),
    ]


def test_blocked_country_declines_only_that_country(api: TestClient) -> None:
    user, _, card_id = approved_customer(api)
    put_controls(api, user.headers, card_id, blocked_countries=["CA"])
    assert_control_decline(api, card_id, 10_00, GROCER | {"country": "CA"})
    assert authorize(api, card_id, 10_00, GROCER | {"country": "US"})["approved"] is True
    assert authorize(api, card_id, 10_00, GROCER | {"country": "MX"})["approved"] is True


def test_per_authorization_limit(api: TestClient) -> None:
    user, _, card_id = approved_customer(api)
    put_controls(api, user.headers, card_id, per_authorization_limit=50_00)
    assert_control_decline(api, card_id, 50_01, GROCER)
    assert authorize(api, card_id, 50_00, GROCER)["approved"] is True
    assert authorize(api, card_id, 50_00, GROCER)["approved"] is True


@pytest.mark.parametrize("control", ["daily_limit", "monthly_limit"])
def test_period_limits_count_what_was_approved(api: TestClient, control: str) -> None:
    user, account_id, card_id = approved_customer(api)
    put_controls(api, user.headers, card_id, **{control: 100_00})
    first = authorize(api, card_id, 60_00)
    assert first["approved"] is True
    assert authorize(api, card_id, 40_00)["approved"] is True  # exactly up to the limit
    assert_control_decline(api, card_id, 1, GROCER)
    # A reversed hold no longer counts; a decline never did.
    r = api.post(f"/v1/network/authorizations/{first['id']}/reverse", headers=NETWORK_HEADERS)
    assert r.status_code == 200
    assert authorize(api, card_id, 60_00)["approved"] is True
    assert_control_decline(api, card_id, 1, GROCER)
    account = api.get(f"/v1/accounts/{account_id}", headers=user.headers).json()
    assert account["pending_amount"] == 100_00


@pytest.mark.parametrize(
    "controls",
    [
        {"blocked_mcc_groups": ["casinos"]},
        {"blocked_mcc_groups": "gambling"},
        {"blocked_countries": ["USA"]},
        {"blocked_countries": ["XX"]},
        {"blocked_countries": [""]},
        {"blocked_countries": [1]},
        {"per_authorization_limit": -1},
        {"per_authorization_limit": 0},
        {"daily_limit": "100"},
        {"daily_limit": 10.5},
        {"monthly_limit": True},
        {"monthly_limit": 2**63},
        {"monthly_limit": 0},
        {"weekly_limit": 100},
    ],
    ids=lambda c: repr(c)[:40],
)
def test_invalid_controls_are_422_and_change_nothing(api: TestClient, controls: dict[str, object]) -> None:
    user, _, card_id = approved_customer(api)
    saved = put_controls(api, user.headers, card_id, daily_limit=500_00)
    r = api.put(f"/v1/cards/{card_id}/controls", headers=user.headers, json=controls)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert api.get(f"/v1/cards/{card_id}/controls", headers=user.headers).json() == saved
