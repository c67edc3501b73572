"""Payments tests: a card holder with a balance, PaymentMethods in the emulator, signed events."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import stripe
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.ledger import service as ledger
from api.network import service as network
from cardportal.settings import Settings
from cardportal.stripe_emulator import Emulator
from tests.factories import LoggedIn, login, open_card_account, unique_email

VISA = "4242424242424242"
DECLINED_AT_CHARGE = "4000000000000341"
DECLINED_AT_ATTACH = "4000000000000002"
_keys = itertools.count(1)


@dataclass
class Holder:
    user: LoggedIn
    account_id: str
    card_id: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        headers = dict(self.user.headers)
        headers["Idempotency-Key"] = key or f"key-{next(_keys)}"
        return headers


@pytest.fixture
def stripe_client(app: FastAPI, stripe_sandbox: Emulator) -> stripe.StripeClient:
    client: stripe.StripeClient = app.state.stripe
    return client


@pytest.fixture
def make_holder(
    api: TestClient, session: Session, app: FastAPI, stripe_sandbox: Emulator
) -> Callable[..., Holder]:
    """A customer whose account owes ``balance`` (a cleared purchase), logged in."""

    def make(balance: int = 10_000, credit_limit: int = 100_000) -> Holder:
        email = unique_email("payer")
        _, account_id, card_id = open_card_account(session, app, credit_limit=credit_limit, email=email)
        if balance:
            now = app.state.clock.now()
            auth = network.authorize(
                session,
                card_id=card_id,
                amount=balance,
                currency="USD",
                merchant_name="Grocer",
                merchant_mcc="5411",
                merchant_country="US",
                now=now,
            )
            assert auth.approved
            network.clear(session, authorization_id=auth.transaction.id, amount=balance, now=now)
            session.commit()
        return Holder(login(api, email), account_id, card_id)

    return make


def payment_method(client: stripe.StripeClient, number: str = VISA) -> str:
    """A PaymentMethod as Stripe.js would create it in the customer's browser."""
    method = client.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return str(method.id)


def balance(session: Session, account_id: str) -> int:
    session.expire_all()
    return ledger.balances(session, [account_id])[account_id].current_balance


def assert_balanced(session: Session) -> None:
    session.expire_all()
    result = ledger.trial_balance(session)
    assert result.balanced, result
    assert ledger.unbalanced_transfers(session) == []


def count(session: Session, sql: str, **params: Any) -> int:
    session.expire_all()
    return int(session.execute(text(sql), params).scalar_one())


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """Stripe's scheme: t=<ts>,v1=HMAC_SHA256(secret, "<ts>.<payload>")."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


_events = itertools.count(1)


def event_body(
    type_: str, obj: dict[str, Any], *, event_id: str | None = None, created: int | None = None
) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_test_{time.time_ns()}_{next(_events)}",
            "object": "event",
            "type": type_,
            "created": int(time.time()) if created is None else created,
            "api_version": "2017-08-15",
            "livemode": False,
            "data": {"object": obj},
        }
    )


@pytest.fixture
def webhook_secret(settings: Settings) -> str:
    return settings.secret("stripe_webhook_secret")


@pytest.fixture
def send_event(api: TestClient, webhook_secret: str) -> Callable[..., Any]:
    def send(body: str, *, timestamp: int | None = None, secret: str | None = None) -> Any:
        return api.post(
            "/v1/webhooks/stripe",
            content=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": sign(body, secret or webhook_secret, timestamp),
            },
        )

    return send
