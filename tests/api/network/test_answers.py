"""The network's answers built in SQL (``network_authorize_once``, ``network_resolve_once``) are
the bytes the Python schemas serialise to, and a replay answers those bytes again.

The API runs authorize, clear and reverse as one autocommitted statement that also builds the
answer's JSON and stores it for the Idempotency-Key (``api.network.service``): these tests pin
that JSON to ``AuthorizationOut`` / ``TransactionOut``'s ``model_dump_json()``, byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.gateway.idempotency import Idempotency
from api.ledger import service as ledger
from api.network import repository
from api.network import service as network
from api.network.models import Transaction
from api.network.schemas import AuthorizationOut, TransactionOut
from cardportal.database import libpq_conninfo
from tests.conftest import NETWORK_KEY, count_rows, make_settings
from tests.factories import GROCER, network_key, open_card_account

NET = {"X-Network-Key": NETWORK_KEY}
# Quotes, a backslash, a slash and characters beyond ASCII: escaped (or not) as pydantic does.
ODD_NAME = 'Café "Zoë" \\ 東京/Ω ☕'


@pytest.fixture
def card(app: FastAPI, session: Session) -> tuple[str, str]:
    """(account id, card id) of an open account with a $1,000 limit."""
    _, account_id, card_id = open_card_account(session, app, credit_limit=1_000_00)
    return account_id, card_id


@pytest.fixture
def raw(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection, as the API's statement pool hands out."""
    with psycopg.connect(libpq_conninfo(database_url), autocommit=True) as connection:
        yield connection


def _no_key() -> dict[str, Any]:
    return network_key()


def _authorize(
    raw: psycopg.Connection[Any], card_id: str, amount: int, now: datetime, **merchant: Any
) -> tuple[dict[str, Any], str]:
    request = network.AuthorizationRequest(
        card_id=card_id,
        amount=amount,
        currency=merchant.get("currency", "USD"),
        merchant_name=merchant.get("name", GROCER["name"]),
        merchant_mcc=merchant.get("mcc", GROCER["mcc"]),
        merchant_country=merchant.get("country", GROCER["country"]),
    )
    params = network.authorization_arguments(request, now)
    row = raw.execute(repository._AUTHORIZE_ONCE, _no_key() | params).fetchone()
    assert row is not None
    assert (row[0], row[1]) == ("ok", 200), row
    return params, str(row[2])


def _python_authorization(session: Session, params: dict[str, Any]) -> str:
    """What the route answered when Python built it (api.network.router before issue 24)."""
    session.expire_all()
    txn = session.get(Transaction, params["id"])
    assert txn is not None
    account = session.get(Account, txn.account_id)
    assert account is not None
    available = ledger.available_credit(
        account.credit_limit, ledger.balances(session, [account.id])[account.id]
    )
    result = network._authorization_result(params, (txn.account_id, txn.decline_code, available))
    return AuthorizationOut(
        id=result.transaction.id,
        approved=result.approved,
        decline_code=result.decline_code,
        available_credit=result.available_credit,
        amount=result.transaction.amount,
        currency=result.transaction.currency,
        status="pending" if result.approved else "declined",
        card_id=result.transaction.card_id or "",
        account_id=result.transaction.account_id,
        created_at=result.transaction.created_at,
    ).model_dump_json()


@pytest.mark.parametrize(
    ("amount", "now", "merchant"),
    [
        (40_00, datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC), {}),
        (40_00, datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), {"name": ODD_NAME, "mcc": "5812"}),
        (40_00, datetime(2026, 12, 31, 23, 59, 59, 10, tzinfo=UTC), {"country": "FR"}),
        (2_000_00, datetime(2026, 3, 4, 5, 6, 7, 500_000, tzinfo=UTC), {}),  # insufficient_credit
        (10_00, datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC), {"currency": "EUR"}),  # not issued
    ],
)
def test_an_authorizations_answer_is_the_bytes_python_builds(
    raw: psycopg.Connection[Any],
    session: Session,
    card: tuple[str, str],
    amount: int,
    now: datetime,
    merchant: dict[str, str],
) -> None:
    params, body = _authorize(raw, card[1], amount, now, **merchant)
    assert body == _python_authorization(session, params)


@pytest.mark.parametrize("action", ["clear", "reversed"])
@pytest.mark.parametrize("name", [GROCER["name"], ODD_NAME])
def test_a_clear_or_reverse_answer_is_the_bytes_python_builds(
    raw: psycopg.Connection[Any], session: Session, card: tuple[str, str], action: str, name: str
) -> None:
    now = datetime(2026, 3, 4, 5, 6, 7, 120_000, tzinfo=UTC)
    params, _ = _authorize(raw, card[1], 30_00, now, name=name)
    arguments = network._resolve_arguments(params["id"], action, 25_00, now + timedelta(hours=30))
    row = raw.execute(repository._RESOLVE_ONCE, _no_key() | arguments).fetchone()
    assert row is not None
    assert row[0] == "ok", row
    session.expire_all()
    txn = session.get(Transaction, params["id"])
    assert txn is not None
    assert row[3] == TransactionOut.of(txn).model_dump_json()


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"])
def test_json_timestamp_writes_what_pydantic_writes_for_what_psycopg_reads(
    database_url: str, zone: str
) -> None:
    """In the session's time zone (what psycopg hands Python for a timestamptz), or a given one."""
    moments = [
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 7, 2, 3, 4, 5, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    as_json = TypeAdapter(datetime)
    conninfo = libpq_conninfo(database_url)
    with psycopg.connect(conninfo, autocommit=True, options=f"-c TimeZone={zone}") as connection:
        for moment in moments:
            row = connection.execute(
                "select %(at)s::timestamptz, json_timestamp(%(at)s), json_timestamp(%(at)s, 'UTC'),"
                " json_timestamp(null)",
                {"at": moment},
            ).fetchone()
            assert row is not None
            assert row[1] == as_json.dump_json(row[0]).decode()
            assert row[2] == as_json.dump_json(moment).decode()
            assert row[3] == "null"


# --- through HTTP -------------------------------------------------------------


def test_a_replay_answers_the_same_bytes(api: TestClient, card: tuple[str, str]) -> None:
    body = {"card_id": card[1], "amount": 40_00, "currency": "USD", "merchant": GROCER | {"name": ODD_NAME}}
    headers = NET | {"Idempotency-Key": "answers-auth-1"}
    first = api.post("/v1/network/authorizations", headers=headers, json=body)
    again = api.post("/v1/network/authorizations", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert first.headers["content-type"] == again.headers["content-type"] == "application/json"
    AuthorizationOut.model_validate_json(first.content)

    held = api.post("/v1/network/authorizations", headers=NET, json=body | {"amount": 10_00}).json()
    for url, payload in (
        (f"/v1/network/authorizations/{first.json()['id']}/clear", {"amount": 40_00}),
        (f"/v1/network/authorizations/{held['id']}/reverse", None),
    ):
        key = NET | {"Idempotency-Key": f"answers-{url}"}
        done = api.post(url, headers=key, json=payload)
        replayed = api.post(url, headers=key, json=payload)
        assert done.status_code == replayed.status_code == 200, done.text
        assert "idempotent-replayed" not in done.headers
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.content == done.content
        TransactionOut.model_validate_json(done.content)
    # The clear's key on another message: refused.
    clear_key = NET | {"Idempotency-Key": f"answers-/v1/network/authorizations/{first.json()['id']}/clear"}
    other = api.post(f"/v1/network/authorizations/{held['id']}/reverse", headers=clear_key)
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "idempotency_key_reused"


def test_a_key_held_by_a_running_request_is_a_409_and_errors_store_nothing(
    api: TestClient, session_factory: Any, engine: Any, card: tuple[str, str]
) -> None:
    body = {"card_id": card[1], "amount": 5_00, "currency": "USD", "merchant": GROCER}
    headers = NET | {"Idempotency-Key": "answers-busy"}
    with session_factory() as running:
        # Another request holds the key (its transaction is open): the network's statement sees it.
        Idempotency(
            running, scope="network", key="answers-busy", fingerprint="x", ttl=timedelta(hours=1)
        ).begin()
        busy = api.post("/v1/network/authorizations", headers=headers, json=body)
        assert busy.status_code == 409, busy.text
        assert busy.json()["code"] == "idempotency_key_in_use"
        running.rollback()
    missing = api.post(
        "/v1/network/authorizations",
        headers=NET | {"Idempotency-Key": "answers-missing"},
        json=body | {"card_id": "card_nope"},
    )
    assert missing.status_code == 404
    assert missing.json()["code"] == "card_not_found"
    gone = api.post("/v1/network/authorizations/auth_nope/reverse", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "authorization_not_found"
    assert count_rows(engine, "idempotency_keys") == 0
    assert api.post("/v1/network/authorizations", headers=headers, json=body).status_code == 200
    assert count_rows(engine, "idempotency_keys") == 1


def test_an_app_outside_its_lifespan_still_answers(
    tmp_path: Any, database_url: str, engine: Any, card: tuple[str, str]
) -> None:
    """No pool for the loop (a TestClient not entered): a connection of its own per statement."""
    from api.main import create_app
    from api.payments import gateway

    session_stripe = gateway.configured_client()
    app = create_app(make_settings(tmp_path), database_url=database_url)
    if session_stripe is not None:
        gateway.configure(session_stripe)
    try:
        client = TestClient(app)
        body = {"card_id": card[1], "amount": 5_00, "currency": "USD", "merchant": GROCER}
        answer = client.post("/v1/network/authorizations", headers=NET, json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["approved"] is True
    finally:
        app.state.engine.dispose()
        app.state.warehouse_engine.dispose()
        app.state.credit_bureau.close()
        app.state.access_log.close()


# --- the lean path (api.network.lean) -------------------------------------------


@pytest.fixture
def lean_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Each lean reader's calls: (route, whether it answered)."""
    from api.network import lean

    calls: list[tuple[str, bool]] = []
    for endpoint, reader in list(lean.LEAN.items()):

        def counting(request: Any, reader: Any = reader, name: str = endpoint.__name__) -> Any:
            async def run() -> Any:
                response = await reader(request)
                calls.append((name, response is not None))
                return response

            return run()

        monkeypatch.setitem(lean.LEAN, endpoint, counting)
    return calls


def test_well_formed_messages_take_the_lean_path_and_others_fastapis(
    api: TestClient, card: tuple[str, str], lean_calls: list[tuple[str, bool]]
) -> None:
    body = {"card_id": card[1], "amount": 5_00, "currency": "USD", "merchant": GROCER}
    auth = api.post("/v1/network/authorizations", headers=NET | {"Idempotency-Key": "lean-1"}, json=body)
    assert auth.status_code == 200, auth.text
    cleared = api.post(
        f"/v1/network/authorizations/{auth.json()['id']}/clear", headers=NET, json={"amount": 5_00}
    )
    assert cleared.status_code == 200, cleared.text
    other = api.post("/v1/network/authorizations", headers=NET, json=body).json()
    assert api.post(f"/v1/network/authorizations/{other['id']}/reverse", headers=NET).status_code == 200
    assert lean_calls == [("authorize", True), ("clear", True), ("authorize", True), ("reverse", True)]
    lean_calls.clear()

    # Each of these is answered by FastAPI's handler, exactly as before.
    refused = [
        api.post("/v1/network/authorizations", json=body),  # no network key
        api.post("/v1/network/authorizations", headers={"X-Network-Key": "wrong"}, json=body),
        api.post("/v1/network/authorizations", headers=NET | {"Idempotency-Key": "x" * 256}, json=body),
        api.post("/v1/network/authorizations", headers=NET | {"Idempotency-Key": "   "}, json=body),
        api.post("/v1/network/authorizations", headers=NET, json=body | {"amount": 0}),
        api.post("/v1/network/authorizations", headers=NET, json=body | {"extra": 1}),
        api.post(
            "/v1/network/authorizations",
            headers=NET,
            content=b"{not json",
        ),
        api.post(
            "/v1/network/authorizations",
            headers=NET | {"Content-Type": "text/plain"},
            content=b'{"card_id": "x"}',
        ),
        api.post("/v1/network/authorizations/bad%20id/reverse", headers=NET),
        api.post(f"/v1/network/authorizations/{other['id']}/clear", headers=NET, json={"amount": -1}),
    ]
    assert [r.status_code for r in refused] == [401, 401, 400, 400, 422, 422, 422, 422, 422, 422]
    for response in refused:
        assert response.headers["content-type"] == "application/problem+json", response.text
    assert all(answered is False for _, answered in lean_calls), lean_calls


def _same_answer(direct: Any, through_app: Any) -> None:
    """Two answers to the same message, one by the gateway's direct path and one through the
    app: the same status, the same body but for the request's own id, the same headers that
    matter."""
    assert direct.status_code == through_app.status_code, (direct.text, through_app.text)
    assert direct.headers["content-type"] == through_app.headers["content-type"]
    assert direct.headers.get("idempotent-replayed") == through_app.headers.get("idempotent-replayed")
    for response in (direct, through_app):
        assert response.headers["x-request-id"]
        assert response.headers["x-content-type-options"] == "nosniff"

    def without_request(response: Any) -> Any:
        body = response.json()
        if isinstance(body, dict):
            body.pop("request_id", None)
            body.pop("instance", None)
            body.pop("id", None)
            body.pop("created_at", None)
            body.pop("available_credit", None)  # the second message's hold is counted in it
        return body

    assert without_request(direct) == without_request(through_app)


def test_the_gateway_answers_the_direct_routes_as_the_app_would(
    api: TestClient, card: tuple[str, str], lean_calls: list[tuple[str, bool]], settings: Any
) -> None:
    """A well-formed message goes to its lean reader from the gateway; an ``Origin`` sends the
    same message through the app (CORS is the app's). The answers match, errors included: an
    error the reader raises is answered by the app's own handler."""
    body = {"card_id": card[1], "amount": 5_00, "currency": "USD", "merchant": GROCER}
    via_app = {"Origin": "https://elsewhere.test"}
    unknown = body | {"card_id": "card_" + "0" * 26}

    # Approved; a replay of the same key; an unknown card (404, raised by the service).
    first = api.post("/v1/network/authorizations", headers=NET | {"Idempotency-Key": "d-1"}, json=body)
    second = api.post(
        "/v1/network/authorizations", headers=NET | via_app | {"Idempotency-Key": "a-1"}, json=body
    )
    _same_answer(first, second)
    assert second.json()["available_credit"] == first.json()["available_credit"] - 5_00
    replay_direct = api.post(
        "/v1/network/authorizations", headers=NET | {"Idempotency-Key": "a-1"}, json=body
    )
    replay_app = api.post(
        "/v1/network/authorizations", headers=NET | via_app | {"Idempotency-Key": "d-1"}, json=body
    )
    assert replay_direct.headers["idempotent-replayed"] == "true"
    assert replay_direct.content == second.content
    assert replay_app.content == first.content
    _same_answer(replay_direct, replay_app)
    missing_direct = api.post("/v1/network/authorizations", headers=NET, json=unknown)
    missing_app = api.post("/v1/network/authorizations", headers=NET | via_app, json=unknown)
    assert missing_direct.status_code == 404
    assert missing_direct.json()["code"] == "card_not_found"
    _same_answer(missing_direct, missing_app)

    # Cleared, then cleared again: 409 (the authorization is not pending), raised by the service.
    cleared = api.post(
        f"/v1/network/authorizations/{first.json()['id']}/clear", headers=NET, json={"amount": 5_00}
    )
    assert cleared.status_code == 200, cleared.text
    again_direct = api.post(
        f"/v1/network/authorizations/{first.json()['id']}/clear", headers=NET, json={"amount": 5_00}
    )
    again_app = api.post(
        f"/v1/network/authorizations/{first.json()['id']}/clear", headers=NET | via_app, json={"amount": 5_00}
    )
    assert again_direct.status_code == 409
    _same_answer(again_direct, again_app)

    # Only the messages without an Origin took the direct path (those that raised are not counted).
    assert lean_calls == [("authorize", True), ("authorize", True), ("clear", True)]

    # The access log names the matched route on the direct path, as the app's routing does.
    from tests.api.gateway.test_access_log import _line

    rid = "direct-" + first.json()["id"]
    logged = api.post(
        f"/v1/network/authorizations/{second.json()['id']}/reverse", headers=NET | {"X-Request-ID": rid}
    )
    assert logged.status_code == 200, logged.text
    assert logged.headers["x-request-id"] == rid
    _, record = _line(settings, rid)
    assert record["route"] == "/v1/network/authorizations/{id}/reverse"
    assert record["status"] == 200
    assert record["role"] == "network"
    rid = "direct-missing-" + first.json()["id"]
    api.post("/v1/network/authorizations", headers=NET | {"X-Request-ID": rid}, json=unknown)
    _, record = _line(settings, rid)
    assert (record["route"], record["status"], record["error_code"]) == (
        "/v1/network/authorizations",
        404,
        "card_not_found",
    )
