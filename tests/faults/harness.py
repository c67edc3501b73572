"""The crash battery's tools: the API as a real process, a burst of money requests, and the audit.

A burst is a list of requests, each with its own Idempotency-Key. Every answer
is kept; after a fault, every request without a definitive answer (a dropped
connection or a 5xx) is retried with the same key, and :func:`check_world`
proves that each request that succeeded moved money exactly once, that none
that was refused moved any, and that the ledger balances.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.ledger import service as ledger
from cardportal.stripe_emulator import free_port
from tests.conftest import NETWORK_KEY
from tests.factories import PASSWORD, application_body, scored_email

NETWORK = {"X-Network-Key": NETWORK_KEY}
GOOD_MERCHANT = {"name": "Crash Mart", "mcc": "5411", "country": "US"}
# Requests that must be refused (422) and leave no trace carry this merchant.
BAD_MERCHANT = {"name": "Refused Mart", "mcc": "5411", "country": "US"}
_keys = itertools.count(1)


class ApiProcess:
    """``uvicorn --factory api.main:app_factory`` in a child process, on a port of its own."""

    def __init__(self, database_url: str, home: Path, *, stripe_url: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "CARDPORTAL_ENV": "sandbox",
            "CARDPORTAL_HOME": str(home),
            "DATABASE_URL": database_url,
            # No extra databases on the shared server: the API never touches these here.
            "WAREHOUSE_URL": database_url,
            "DAGSTER_DATABASE_URL": database_url,
            "NETWORK_API_KEY": NETWORK_KEY,
            "RATE_LIMIT_PER_IP": "1000000/minute",
            "RATE_LIMIT_PER_USER": "1000000/minute",
            "RATE_LIMIT_CREDENTIALS_PER_IP": "1000000/minute",
            "CLOCK_CACHE_SECONDS": "0",
            "DB_POOL_SIZE": "8",
        }
        if stripe_url:
            self.env["STRIPE_API_BASE"] = stripe_url
        self.log = (home / "api.log").open("ab")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api.main:app_factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1
        wait_until_ready(self.url, timeout=timeout, process=self.process)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no rollback sent to the database."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def wait_until_ready(url: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready within {timeout} s")


@dataclass
class Holder:
    account_id: str
    card_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_holders(url: str, count: int, *, opening_balance: int = 0) -> list[Holder]:
    """Approved customers through the HTTP API, each owing ``opening_balance`` (a cleared purchase)."""
    holders = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(count):
            email = scored_email(800, "crash")
            body = {"email": email, "password": PASSWORD, "full_name": "Crash Tester"}
            assert client.post("/v1/auth/register", json=body).status_code == 201
            form = {"grant_type": "password", "username": email, "password": PASSWORD}
            token = client.post("/v1/auth/token", data=form).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            applied = client.post("/v1/applications", headers=headers, json=application_body())
            assert applied.json()["status"] == "approved", applied.text
            account_id = applied.json()["account_id"]
            card_id = client.get(f"/v1/accounts/{account_id}/cards", headers=headers).json()["data"][0]["id"]
            if opening_balance:
                auth = client.post(
                    "/v1/network/authorizations",
                    headers=NETWORK,
                    json={
                        "card_id": card_id,
                        "amount": opening_balance,
                        "currency": "USD",
                        "merchant": GOOD_MERCHANT,
                    },
                ).json()
                assert auth["approved"], auth
                cleared = client.post(
                    f"/v1/network/authorizations/{auth['id']}/clear",
                    headers=NETWORK,
                    json={"amount": opening_balance},
                )
                assert cleared.status_code == 200, cleared.text
            holders.append(Holder(account_id, card_id, token))
    return holders


@dataclass
class Op:
    kind: str  # "authorize", "pay", "bad_authorize", "bad_pay"
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    key: str = field(default_factory=lambda: f"crash-{os.getpid()}-{next(_keys)}")
    answers: list[tuple[int, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        """A definitive answer: anything but a dropped connection or a 5xx."""
        return bool(self.answers) and self.answers[-1][0] < 500

    @property
    def final(self) -> tuple[int, Any]:
        return self.answers[-1]

    def send(self, client: httpx.Client) -> None:
        try:
            response = client.post(
                self.path, json=self.body, headers={**self.headers, "Idempotency-Key": self.key}
            )
        except httpx.HTTPError as exc:
            self.errors.append(type(exc).__name__)
            return
        try:
            body = response.json()
        except ValueError:
            body = response.text
        self.answers.append((response.status_code, body))


def burst(holders: list[Holder], payment_methods: list[str] | None, *, per_holder: int) -> list[Op]:
    """Authorizations (and payments when methods are given), with a few requests that must be refused."""
    ops: list[Op] = []
    for index, holder in enumerate(holders):
        for n in range(per_holder):
            ops.append(
                Op(
                    "authorize",
                    "/v1/network/authorizations",
                    {
                        "card_id": holder.card_id,
                        "amount": 100 + n,
                        "currency": "USD",
                        "merchant": GOOD_MERCHANT,
                    },
                    NETWORK,
                )
            )
            if payment_methods and n % 3 == 0:
                ops.append(
                    Op(
                        "pay",
                        f"/v1/accounts/{holder.account_id}/payments",
                        {"amount": 50 + n, "payment_method": payment_methods[index]},
                        holder.headers,
                    )
                )
            if n % 10 == 0:
                ops.append(
                    Op(
                        "bad_authorize",
                        "/v1/network/authorizations",
                        {
                            "card_id": holder.card_id,
                            "amount": -5,
                            "currency": "USD",
                            "merchant": BAD_MERCHANT,
                        },
                        NETWORK,
                    )
                )
                if payment_methods:
                    ops.append(
                        Op(
                            "bad_pay",
                            f"/v1/accounts/{holder.account_id}/payments",
                            {"amount": 10**12, "payment_method": payment_methods[index]},
                            holder.headers,
                        )
                    )
    # Interleave the holders' requests so that every account is busy at once.
    return sorted(ops, key=lambda op: hash(op.key))


def run(url: str, ops: Iterable[Op], *, workers: int = 8, stop: threading.Event | None = None) -> None:
    """Send each op once (concurrently); ops not yet sent when ``stop`` is set are skipped."""

    def send(op: Op) -> None:
        if stop is not None and stop.is_set():
            return
        with httpx.Client(base_url=url, timeout=15) as client:
            op.send(client)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, ops))


def retry_unsettled(url: str, ops: list[Op], *, attempts: int = 20) -> int:
    """Retry every op without a definitive answer, same key, until each has one; how many were retried."""
    pending = [op for op in ops if not op.settled]
    retried = len(pending)
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(attempts):
            if not pending:
                break
            for op in pending:
                op.send(client)
            # 409 idempotency_key_in_use: the first attempt's transaction was still open; wait.
            pending = [
                op
                for op in pending
                if not op.settled
                or (
                    op.final[0] == 409
                    and isinstance(op.final[1], dict)
                    and op.final[1].get("code") == "idempotency_key_in_use"
                )
            ]
            if pending:
                time.sleep(0.3)
    assert not pending, [(op.kind, op.answers[-3:], op.errors[-3:]) for op in pending]
    return retried


def replay_answers_match(url: str, ops: list[Op]) -> int:
    """Send every settled success again: the stored answer comes back, nothing runs twice."""
    replayed = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for op in ops:
            if not op.settled or op.final[0] >= 400:
                continue
            first = op.final
            op.send(client)
            assert op.final == first, (op.kind, first, op.final)
            replayed += 1
    return replayed


@dataclass
class Tally:
    requests: int
    succeeded: int
    refused: int
    interrupted: int
    authorizations: int
    payments: int


def check_world(engine: Engine, ops: list[Op]) -> Tally:
    """Every success is in the ledger exactly once, no refusal is, and the ledger balances."""
    assert all(op.settled for op in ops)
    with Session(engine) as session:
        auth_ids = [op.final[1]["id"] for op in ops if op.kind == "authorize" and op.final[0] == 200]
        approved = [
            op.final[1]["id"]
            for op in ops
            if op.kind == "authorize" and op.final[0] == 200 and op.final[1]["approved"]
        ]
        assert len(auth_ids) == len({*auth_ids}) == sum(op.kind == "authorize" for op in ops)
        # One purchase per authorization request: none lost, none doubled by a retry.
        made = session.execute(
            text("select id, status from transactions where merchant_name = :m and type = 'purchase'"),
            {"m": GOOD_MERCHANT["name"]},
        ).all()
        opening = {row.id for row in made} - set(auth_ids)
        assert {row.id for row in made} - opening == set(auth_ids)
        holds = dict(
            session.execute(
                text(
                    "select reference, count(*) from ledger_transfers where reference = any(:ids) "
                    "and kind = 'hold' group by reference"
                ),
                {"ids": auth_ids},
            ).all()
        )
        # A hold for each approval, exactly one; none for a decline.
        assert holds == dict.fromkeys(approved, 1), holds
        # Refused requests left nothing behind.
        assert (
            session.execute(
                text("select count(*) from transactions where merchant_name = :m"),
                {"m": BAD_MERCHANT["name"]},
            ).scalar_one()
            == 0
        )
        bad_keys = [op.key for op in ops if op.kind in ("bad_pay", "bad_authorize")]
        assert all(op.final[0] == 422 for op in ops if op.kind in ("bad_pay", "bad_authorize"))
        assert (
            session.execute(
                text("select count(*) from payments where idempotency_key = any(:k)"), {"k": bad_keys}
            ).scalar_one()
            == 0
        )

        pays = [op for op in ops if op.kind == "pay"]
        assert all(op.final[0] == 201 for op in pays), [op.final for op in pays if op.final[0] != 201]
        pay_ids = [op.final[1]["id"] for op in pays]
        stored = session.execute(
            text("select id, status from payments where idempotency_key = any(:k)"),
            {"k": [op.key for op in pays]},
        ).all()
        assert sorted(row.id for row in stored) == sorted(pay_ids)
        succeeded = [row.id for row in stored if row.status == "succeeded"]
        assert len(succeeded) == len(pay_ids), stored
        credits = dict(
            session.execute(
                text(
                    "select reference, count(*) from ledger_transfers "
                    "where reference = any(:ids) group by reference"
                ),
                {"ids": pay_ids},
            ).all()
        )
        assert credits == dict.fromkeys(pay_ids, 1), credits

        result = ledger.trial_balance(session)
        assert result.balanced, result
        assert ledger.unbalanced_transfers(session) == []
        over = session.execute(
            text(
                "select a.id from accounts a join ledger_accounts l on l.id = a.id || :suffix "
                "where l.posted_balance + l.pending_balance > a.credit_limit"
            ),
            {"suffix": ":receivable"},
        ).all()
        assert over == []
    return Tally(
        requests=len(ops),
        succeeded=sum(op.final[0] < 400 for op in ops),
        refused=sum(op.final[0] >= 400 for op in ops),
        interrupted=sum(bool(op.errors) or any(s >= 500 for s, _ in op.answers) for op in ops),
        authorizations=len(auth_ids),
        payments=len(pay_ids),
    )
