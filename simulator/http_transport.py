"""The default transport: the world's calls through the public HTTP API (the simulator's httpx client).

Every customer registers, signs in and acts with their own session (``simulator.client``); an
admin decides the manual reviews and moves the sandbox clock (``POST /v1/sandbox/clock/advance``
runs the daily job); the network calls authorize, clear, reverse and refund with the network
key; payment methods are made at the Stripe the API pays with (the emulator that
``cardportal up`` runs). Logs, idempotency rows and audit events are what production would
write. A batch is one customer and nothing is held back: each call is one request, answered
before the next.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from simulator.audit import AccountFacts
from simulator.client import Api, ApiError, UserSession
from simulator.population import Customer
from simulator.transport import Application, PurchasePlan, StatementFacts, first_day

if TYPE_CHECKING:
    from simulator.engine import SimulationConfig


class HttpTransport:
    batch_size = 1

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.api = Api(config.base_url, network_key=config.network_key, run_tag=f"sim{config.seed}")
        self.sessions: dict[int, UserSession] = {}  # a customer's index: their signed-in session
        self._stripe: Any = None
        self._stripe_lock = threading.Lock()

    @property
    def pays_through_stripe(self) -> bool:
        return self.config.stripe_api_base is not None

    # --- the run ---

    def open(self, start: date | None) -> date:
        self.admin = UserSession(self.api, self.config.admin_email, self.config.admin_password)
        now = self._sandbox_now()
        day = first_day(now, start)
        if day > now.date():
            self._advance({"to": f"{day}T00:00:00Z"})
        return day

    def close(self) -> None:
        self.api.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        yield  # each request is its own

    def lane_of(self, customer: Customer, account_id: str) -> int:  # noqa: ARG002
        return customer.index

    def _sandbox_now(self) -> datetime:
        # Through the admin's session: staff access tokens live 5 minutes (issue 21, finding 7),
        # and a call renews an expired one.
        body: dict[str, Any] = self.admin.call("GET", "/v1/sandbox/clock")
        return datetime.fromisoformat(body["now"].replace("Z", "+00:00"))

    def _advance(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.admin.call("POST", "/v1/sandbox/clock/advance", json=body)
        return result

    def advance_clock(self, *, days: int) -> list[dict[str, Any]]:
        billing = self._advance({"days": days})
        runs: list[dict[str, Any]] = billing.get("runs", billing)
        return runs

    # --- onboarding ---

    def register_and_apply(self, customer: Customer) -> Application:
        try:
            self.api.request(
                "POST",
                "/v1/auth/register",
                json={
                    "email": customer.email,
                    "password": customer.password,
                    "full_name": customer.full_name,
                },
                headers={"Idempotency-Key": f"sim{self.config.seed}-register-{customer.index}"},
                expect=(201,),
            )
        except ApiError as error:
            if error.code != "email_taken":
                raise
        session = self.sessions[customer.index] = UserSession(self.api, customer.email, customer.password)
        body: dict[str, Any] = {
            "annual_income": customer.annual_income,
            "monthly_housing_payment": customer.monthly_housing_payment,
            "employment_status": customer.employment_status,
            "date_of_birth": customer.date_of_birth.isoformat(),
        }
        if customer.requested_credit_limit is not None:
            body["requested_credit_limit"] = customer.requested_credit_limit
        application = session.call("POST", "/v1/applications", json=body, expect=(201,), idempotent=True)
        return _application(application)

    def review_facts(self, application_id: str) -> tuple[int, int]:
        application = self.admin.call("GET", f"/v1/applications/{application_id}")
        return application["credit_score"], application["debt_to_income_bps"]

    def decide(self, application_id: str, decision: str) -> Application:
        path = f"/v1/applications/{application_id}/decision"
        try:
            decided = self.admin.call("POST", path, json={"decision": decision})
        except ApiError as error:
            if error.status not in (409, 422):
                raise
            decided = self.admin.call("POST", path, json={"decision": "declined"})
        return _application(decided)

    def account_and_card(self, customer: Customer, account_id: str) -> tuple[int, str]:
        session = self.sessions[customer.index]
        account = session.call("GET", f"/v1/accounts/{account_id}")
        cards = session.call("GET", f"/v1/accounts/{account_id}/cards")["data"]
        return account["billing_cycle_day"], cards[0]["id"]

    def stripe_client(self) -> Any:
        with self._stripe_lock:
            if self._stripe is None:
                import stripe

                self._stripe = stripe.StripeClient(
                    self.config.stripe_api_key or "sk_test_simulator",
                    base_addresses={"api": self.config.stripe_api_base}
                    if self.config.stripe_api_base
                    else None,
                )
            return self._stripe

    def turn_on_autopay(self, customer: Customer, account_id: str, payment_method: str) -> None:
        self.sessions[customer.index].call(
            "PUT",
            f"/v1/accounts/{account_id}/autopay",
            json={"enabled": True, "amount": "statement_balance", "payment_method": payment_method},
        )

    # --- a customer's day ---

    def set_frozen(self, customer: Customer, card_id: str, *, frozen: bool) -> None:
        self.sessions[customer.index].call(
            "POST", f"/v1/cards/{card_id}/{'freeze' if frozen else 'unfreeze'}"
        )

    def purchases(self, purchases: Sequence[tuple[str, PurchasePlan]]) -> list[tuple[str, str | None]]:
        answers: list[tuple[str, str | None]] = []
        for card_id, plan in purchases:
            result = self.api.network(
                "POST",
                "/v1/network/authorizations",
                json={
                    "card_id": card_id,
                    "amount": plan.amount,
                    "currency": plan.currency,
                    "merchant": {
                        "name": plan.merchant.name,
                        "mcc": plan.merchant.category.mcc,
                        "country": plan.merchant.country,
                    },
                },
            )
            authorization_id: str = result["id"]
            if result["approved"]:
                if plan.reverse:
                    self.api.network("POST", f"/v1/network/authorizations/{authorization_id}/reverse")
                else:
                    self.api.network(
                        "POST",
                        f"/v1/network/authorizations/{authorization_id}/clear",
                        json={"amount": plan.cleared},
                    )
            answers.append((authorization_id, None if result["approved"] else result["decline_code"]))
        return answers

    def refund(self, card_id: str, authorization_id: str, amount: int) -> int:
        refund = self.api.network(
            "POST",
            "/v1/network/refunds",
            json={
                "card_id": card_id,
                "amount": amount,
                "merchant": {"name": "Refund desk", "mcc": "5311", "country": "US"},
                "authorization_id": authorization_id,
            },
        )
        refunded: int = refund["amount"]
        return refunded

    def latest_statement(self, customer: Customer, account_id: str) -> StatementFacts | None:
        session = self.sessions[customer.index]
        statements = session.call("GET", f"/v1/accounts/{account_id}/statements", params={"limit": 1})
        if not statements["data"]:
            return None
        statement = statements["data"][0]
        account = session.call("GET", f"/v1/accounts/{account_id}")
        return (
            statement["closing_balance"],
            statement["minimum_payment"],
            account["current_balance"] + account["pending_amount"],
        )

    def create_payment(
        self,
        customer: Customer,
        account_id: str,
        *,
        amount: int,
        payment_method: str,
        day_index: int,  # noqa: ARG002
    ) -> str:
        # The idempotency key is the client's (the in-process transport makes one of the day).
        payment = self.sessions[customer.index].call(
            "POST",
            f"/v1/accounts/{account_id}/payments",
            json={"amount": amount, "payment_method": payment_method},
            expect=(201,),
            idempotent=True,
        )
        status: str = payment["status"]
        return status

    # --- the end ---

    def outcomes(self, accounts: Sequence[tuple[Customer, str]]) -> tuple[int, int, int]:
        statements = late_fees = delinquent = 0
        for customer, account_id in accounts:
            session = self.sessions[customer.index]
            statements += len(
                session.call("GET", f"/v1/accounts/{account_id}/statements", params={"limit": 200})["data"]
            )
            fees = session.call(
                "GET", f"/v1/accounts/{account_id}/transactions", params={"type": "fee", "limit": 200}
            )["data"]
            # The simulation makes no disputes, so its only fees are late fees.
            late_fees += len(fees)
            account = session.call("GET", f"/v1/accounts/{account_id}")
            if account.get("days_past_due", 0) > 0:
                delinquent += 1
        return statements, late_fees, delinquent

    def trial_balance(self) -> dict[str, Any]:
        trial: dict[str, Any] = self.admin.call("GET", "/v1/admin/ledger/trial-balance")
        return trial

    def billing_facts(self, accounts: Sequence[tuple[Customer, str]]) -> list[AccountFacts]:
        facts = []
        for customer, account_id in accounts:
            session = self.sessions[customer.index]
            base = f"/v1/accounts/{account_id}"
            transactions = [
                t
                for kind in ("payment", "refund", "reversal", "fee")
                for t in _every(session, f"{base}/transactions", {"type": kind})
                if t["status"] == "posted"
            ]
            statements = sorted(_every(session, f"{base}/statements", {}), key=lambda s: s["period_end"])
            facts.append(AccountFacts(session.call("GET", base), statements, transactions))
        return facts

    def login(self, customer: Customer) -> tuple[str, str]:
        return customer.email, customer.password


def _application(body: dict[str, Any]) -> Application:
    return Application(body["id"], body["status"], tuple(body.get("reasons", ())), body.get("account_id"))


def _every(session: UserSession, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a list endpoint, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = session.call(
            "GET", path, params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        )
        items += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
