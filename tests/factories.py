"""Factories for test data, through the real services and HTTP API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import service as auth_service

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class LoggedIn:
    user_id: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}@example.com"


def register(client: TestClient, *, email: str | None = None, password: str = PASSWORD) -> dict[str, str]:
    email = email or unique_email()
    response = client.post(
        "/v1/auth/register", json={"email": email, "password": password, "full_name": "Test Person"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def login(client: TestClient, email: str, password: str = PASSWORD) -> LoggedIn:
    response = client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    return LoggedIn(me["id"], email, body["access_token"], body["refresh_token"])


def customer(client: TestClient, *, email: str | None = None) -> LoggedIn:
    user = register(client, email=email)
    return login(client, user["email"])


def user_with_role(client: TestClient, session: Session, role: str) -> LoggedIn:
    email = unique_email(role)
    auth_service.register(session, email=email, password=PASSWORD, full_name=f"Test {role}", role=role)
    session.commit()
    return login(client, email)


def open_card_account(
    session: Session, app: object, *, credit_limit: int, apr_bps: int = 2_499, email: str | None = None
) -> tuple[str, str, str]:
    """A customer with an open account and an active card, through the services; (user, account, card)."""
    from api.accounts import service as accounts_service
    from api.cards import service as cards_service

    state = app.state  # type: ignore[attr-defined]
    now = state.clock.now()
    user = auth_service.register(
        session, email=email or unique_email("holder"), password=PASSWORD, full_name="Card Holder"
    )
    account = accounts_service.open_account(
        session, user_id=user.id, application_id=None, credit_limit=credit_limit, apr_bps=apr_bps, now=now
    )
    card = cards_service.issue_card(session, account=account, vault=state.card_vault, now=now)
    session.commit()
    return user.id, account.id, card.id


NETWORK_HEADERS = {"X-Network-Key": "test-network-key"}
GROCER = {"name": "Corner Grocer", "mcc": "5411", "country": "US"}


def network_key(key: str | None = None, fingerprint: str = "f") -> dict[str, Any]:
    """The Idempotency-Key's arguments of a network statement (``network_authorize_once``,
    ``network_resolve_once`` and their batches), as the routes pass them: none by default."""
    from api.gateway.idempotency import lock_id

    return {
        "scope": "network",
        "key": key,
        "lock": None if key is None else lock_id("network", key),
        "fingerprint": fingerprint,
        "ttl": timedelta(hours=24),
    }


def network_authorization(
    card_id: str, amount: int, now: datetime, *, key: str | None = None, fingerprint: str = "f"
) -> dict[str, Any]:
    """One authorization's arguments (a grocer in the US, in USD), as ``api.network.service``
    builds them for its statements."""
    from api.network import service as network

    request = network.AuthorizationRequest(
        card_id=card_id,
        amount=amount,
        currency="USD",
        merchant_name=GROCER["name"],
        merchant_mcc=GROCER["mcc"],
        merchant_country=GROCER["country"],
    )
    return network_key(key, fingerprint) | network.authorization_arguments(request, now)


def network_resolution(
    authorization_id: str, action: str, amount: int, now: datetime, *, fingerprint: str = "f"
) -> dict[str, Any]:
    """One clear (``action`` "clear") or reversal ("reversed")'s arguments, with no key."""
    from api.network import service as network

    return network_key(None, fingerprint) | network._resolve_arguments(authorization_id, action, amount, now)


def scored_email(score: int, prefix: str = "applicant") -> str:
    """A unique email that the sandbox bureau scores ``score`` (``…+score<NNN>@…``)."""
    return f"{prefix}{next(_counter)}+score{score}@example.com"


def application_body(**overrides: object) -> dict[str, object]:
    """A strong application (approved for a +score760 or better email), changed where a test says."""
    body: dict[str, object] = {
        "annual_income": 90_000_00,
        "monthly_housing_payment": 1_500_00,
        "employment_status": "employed",
        "date_of_birth": "1990-01-01",
        "requested_credit_limit": 5_000_00,
    }
    body.update(overrides)
    return body


def approved_customer(
    client: TestClient, *, score: int = 790, **overrides: object
) -> tuple[LoggedIn, str, str]:
    """A customer approved through POST /v1/applications; (user, account id, card id)."""
    user = customer(client, email=scored_email(score))
    response = client.post("/v1/applications", headers=user.headers, json=application_body(**overrides))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "approved", response.text
    account_id = response.json()["account_id"]
    cards = client.get(f"/v1/accounts/{account_id}/cards", headers=user.headers).json()["data"]
    return user, account_id, cards[0]["id"]
