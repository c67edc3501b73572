"""Issue 21, finding 1: production scored applicants with the sandbox bureau, so a
``+score850`` email chose its own score. A production app now scores through the HTTP
bureau of ``api/applications/bureau.py`` (docs/credit-bureau.md), here a real local HTTP
server; a bureau that fails is 503 ``bureau_unavailable`` and creates nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.applications.models import Application, CreditLimitRequest
from api.cards.models import Card
from cardportal.stripe_emulator import free_port
from tests.conftest import problem, production_settings
from tests.factories import application_body, customer, scored_email

BUREAU_KEY = "bureau-key-from-the-vault-0123456789"
TIMEOUT_SECONDS = 0.5


@dataclass
class Behaviour:
    """What the test bureau answers next: a status and a JSON body (or raw bytes), after a delay."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"score": 700, "reference": "rpt_test_1"})
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)


class _BureauHandler(BaseHTTPRequestHandler):
    behaviour: Behaviour

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.behaviour.requests.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "content_type": self.headers.get("Content-Type"),
                "json": json.loads(self.rfile.read(length)),
            }
        )
        time.sleep(self.behaviour.delay)
        body = self.behaviour.body
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(self.behaviour.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def bureau_port() -> int:
    return free_port()


class _Bureau:
    """A test bureau on 127.0.0.1:port, in a thread, until ``stop()``."""

    def __init__(self, port: int) -> None:
        self.behaviour = Behaviour()
        handler = type("Handler", (_BureauHandler,), {"behaviour": self.behaviour})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def bureau(bureau_port: int) -> Iterator[Behaviour]:
    """The bureau for this test; stopped after it (nothing listens on the port then)."""
    server = _Bureau(bureau_port)
    yield server.behaviour
    server.stop()


@pytest.fixture(scope="module")
def production_app(
    tmp_path_factory: pytest.TempPathFactory, bureau_port: int, database_url: str, warehouse_url: str
) -> FastAPI:
    from api.main import create_app

    settings = production_settings(
        tmp_path_factory.mktemp("production"),
        database_url,
        BUREAU_URL=f"http://127.0.0.1:{bureau_port}",
        BUREAU_API_KEY=BUREAU_KEY,
        BUREAU_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
    )
    return create_app(settings, database_url=database_url, warehouse_url=warehouse_url)


@pytest.fixture
def production(production_app: FastAPI, session: Session) -> Iterator[TestClient]:
    with TestClient(production_app) as client:
        yield client


def _counts(session: Session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(
        session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Application, Account, Card, CreditLimitRequest)
    )


def test_production_scores_from_the_bureau_not_from_the_email(
    production: TestClient, bureau: Behaviour
) -> None:
    """Before: production used the sandbox bureau, and this applicant's email chose 850."""
    email = scored_email(850)
    user = customer(production, email=email)
    r = production.post("/v1/applications", headers=user.headers, json=application_body())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["credit_score"] == 700
    assert (body["status"], body["apr_bps"]) == ("approved", 2_599)  # the "fair" tier, not 850's
    assert bureau.requests == [
        {
            "path": "/v1/scores",
            "authorization": f"Bearer {BUREAU_KEY}",
            "content_type": "application/json",
            "json": {
                "full_name": "Test Person",
                "date_of_birth": "1990-01-01",
                "email": email,
                "purpose": "application",
            },
        }
    ]

    # A higher limit is decided on the bureau's score today, too.
    bureau.body = {"score": 790, "reference": "rpt_test_2"}
    r = production.post(
        f"/v1/accounts/{body['account_id']}/credit-limit-requests",
        headers={**user.headers, "Idempotency-Key": "more-credit-1"},
        json={"requested_credit_limit": 10_000_00},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["credit_limit"]) == ("approved", 10_000_00)
    assert bureau.requests[-1]["json"]["purpose"] == "credit_limit_increase"


@pytest.mark.parametrize(
    "failure",
    ["down", "timeout", "server_error", "score_above_850", "score_below_300", "not_the_contract"],
)
def test_a_failing_bureau_is_503_and_creates_nothing(
    production: TestClient, session: Session, request: pytest.FixtureRequest, failure: str
) -> None:
    """Before: production never asked a bureau, and every one of these was a 201."""
    if failure != "down":  # "down": nothing listens on the bureau's port
        bureau: Behaviour = request.getfixturevalue("bureau")
        if failure == "timeout":
            bureau.delay = TIMEOUT_SECONDS * 4
        elif failure == "server_error":
            bureau.status, bureau.body = 500, {"error": "internal"}
        elif failure == "score_above_850":
            bureau.body = {"score": 900, "reference": "rpt_x"}
        elif failure == "score_below_300":
            bureau.body = {"score": 299, "reference": "rpt_x"}
        else:
            bureau.body = b"<html>maintenance</html>"
    email = scored_email(850)
    user = customer(production, email=email)
    r = production.post(
        "/v1/applications",
        headers={**user.headers, "Idempotency-Key": f"apply-{failure}"},
        json=application_body(),
    )
    problem(r, 503, "bureau_unavailable")
    assert email not in r.text
    assert _counts(session) == (0, 0, 0, 0)


def test_a_failing_bureau_leaves_the_credit_limit_alone(
    production_app: FastAPI, session: Session, bureau_port: int
) -> None:
    """A credit-limit request while the bureau is down: 503, no request row, the same limit."""
    with TestClient(production_app) as production:
        user = customer(production, email=scored_email(850))
        server = _Bureau(bureau_port)
        try:
            approved = production.post("/v1/applications", headers=user.headers, json=application_body())
            assert approved.status_code == 201, approved.text
        finally:
            server.stop()
        account_id = approved.json()["account_id"]
        before = approved.json()["credit_limit"]
        r = production.post(
            f"/v1/accounts/{account_id}/credit-limit-requests",
            headers={**user.headers, "Idempotency-Key": "more-credit-down"},
            json={"requested_credit_limit": before + 1_000_00},
        )
        problem(r, 503, "bureau_unavailable")
        assert (
            production.get(f"/v1/accounts/{account_id}", headers=user.headers).json()["credit_limit"]
            == before
        )
    assert _counts(session) == (1, 1, 1, 0)


def test_the_sandbox_still_honours_the_score_tag(api: TestClient) -> None:
    """The sandbox bureau is unchanged: ``+score<NNN>`` chooses, anything else is the hash."""
    from api.applications import underwriting
    from api.applications.bureau import SandboxBureau

    assert isinstance(api.app.state.credit_bureau, SandboxBureau)  # type: ignore[attr-defined]
    user = customer(api, email=scored_email(612))
    r = api.post("/v1/applications", headers=user.headers, json=application_body())
    assert r.status_code == 201, r.text
    assert r.json()["credit_score"] == 612
    plain = customer(api)
    r = api.post("/v1/applications", headers=plain.headers, json=application_body())
    assert r.json()["credit_score"] == underwriting.sandbox_credit_score(plain.email, "Test Person")


def test_production_refuses_to_start_without_a_bureau(tmp_path: Path) -> None:
    """The API process itself stops at start, naming the setting, before it serves anyone."""
    script = "from api.main import create_app; create_app(database_url='postgresql://x@/y?host=/none')"
    env = {
        "CARDPORTAL_ENV": "production",
        "CARDPORTAL_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "JWT_SECRET": "x" * 40,
        "NETWORK_API_KEY": "network-key-long-enough-0123456789",
        "CARD_DATA_KEY": "y" * 44,
        "STRIPE_API_KEY": "sk_live_real",
        "STRIPE_WEBHOOK_SECRET": "whsec_real_enough_0123456789abcdef",
        "PII_HASH_SALT": "s" * 40,
        "CREDIT_COUNSELING_PHONE": "1-800-388-2227",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "CREDIT_BUREAU must be 'http'" in done.stderr
