"""The default transport: the world's calls through the public HTTP API (``simulator.client``).

Every customer registers, signs in and acts with their own session (``simulator.client``); an
admin decides the manual reviews and moves the sandbox clock (``POST /v1/sandbox/clock/advance``
runs the daily job); the network calls authorize, clear, reverse and refund with the network
key; payment methods are made at the Stripe the API pays with (the emulator that
``cardportal up`` runs). Logs, idempotency rows and audit events are what production would
write. A batch is one customer and nothing is held back: each of a customer's requests is
answered before the next (the engine runs many customers at once, see ``overlaps_onboarding``).

Each method is one coroutine on the client's event loop (``Api.run``): a customer's purchases
of a day, or the end's reads of every account, cross between threads once. Reads the API has
already answered are not repeated: the application's answer carries what the underwriter
looks at, and the end's figures (statements, late fees, delinquency) come from the same
reads as the audit's facts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from simulator.audit import AccountFacts
from simulator.client import Api, ApiError, UserSession
from simulator.population import Customer
from simulator.transport import Application, PurchasePlan, StatementFacts, first_day

if TYPE_CHECKING:
    from simulator.engine import SimulationConfig


# Requests in flight at once for the end's reads of every account.
READS_IN_FLIGHT = 32
# The transactions the audit reads (simulator.audit), in its order.
KINDS = ("payment", "refund", "reversal", "fee")


class HttpTransport:
    batch_size = 1
    # A newcomer registers and applies while the others live their day (see the engine).
    overlaps_onboarding = True

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.api = Api(config.base_url, network_key=config.network_key, run_tag=f"sim{config.seed}")
        self.sessions: dict[int, UserSession] = {}  # a customer's index: their signed-in session
        self._views: dict[str, _AccountView] = {}  # the end's reads, by account id
        self._stripe: Any = None
        self._stripe_lock = threading.Lock()

    @property
    def pays_through_stripe(self) -> bool:
        return self.config.stripe_api_base is not None

    # --- the run ---

    def open(self, start: date | None) -> date:
        self.admin = self.api.run(
            UserSession.signed_in(self.api, self.config.admin_email, self.config.admin_password)
        )
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
        body: dict[str, Any] = self.api.run(self.admin.call("GET", "/v1/sandbox/clock"))
        return datetime.fromisoformat(body["now"].replace("Z", "+00:00"))

    def _advance(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.api.run(self.admin.call("POST", "/v1/sandbox/clock/advance", json=body))
        return result

    def advance_clock(self, *, days: int) -> list[dict[str, Any]]:
        billing = self._advance({"days": days})
        runs: list[dict[str, Any]] = billing.get("runs", billing)
        return runs

    # --- onboarding ---

    def register_and_apply(self, customer: Customer) -> Application:
        return self.api.run(self._register_and_apply(customer))

    async def _register_and_apply(self, customer: Customer) -> Application:
        try:
            await self.api.request(
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
        session = await UserSession.signed_in(self.api, customer.email, customer.password)
        self.sessions[customer.index] = session
        body: dict[str, Any] = {
            "annual_income": customer.annual_income,
            "monthly_housing_payment": customer.monthly_housing_payment,
            "employment_status": customer.employment_status,
            "date_of_birth": customer.date_of_birth.isoformat(),
        }
        if customer.requested_credit_limit is not None:
            body["requested_credit_limit"] = customer.requested_credit_limit
        application = await session.call(
            "POST", "/v1/applications", json=body, expect=(201,), idempotent=True
        )
        return _application(application)

    def review_facts(self, application_id: str) -> tuple[int, int]:
        application = self.api.run(self.admin.call("GET", f"/v1/applications/{application_id}"))
        return application["credit_score"], application["debt_to_income_bps"]

    def decide(self, application_id: str, decision: str) -> Application:
        return self.api.run(self._decide(application_id, decision))

    async def _decide(self, application_id: str, decision: str) -> Application:
        path = f"/v1/applications/{application_id}/decision"
        try:
            decided = await self.admin.call("POST", path, json={"decision": decision})
        except ApiError as error:
            if error.status not in (409, 422):
                raise
            decided = await self.admin.call("POST", path, json={"decision": "declined"})
        return _application(decided)

    def account_and_card(self, customer: Customer, account_id: str) -> tuple[int, str]:
        session = self.sessions[customer.index]
        account, cards = self.api.run(
            _both(
                session.call("GET", f"/v1/accounts/{account_id}"),
                session.call("GET", f"/v1/accounts/{account_id}/cards"),
            )
        )
        return account["billing_cycle_day"], cards["data"][0]["id"]

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
        self.api.run(
            self.sessions[customer.index].call(
                "PUT",
                f"/v1/accounts/{account_id}/autopay",
                json={"enabled": True, "amount": "statement_balance", "payment_method": payment_method},
            )
        )

    # --- a customer's day ---

    def set_frozen(self, customer: Customer, card_id: str, *, frozen: bool) -> None:
        self.api.run(
            self.sessions[customer.index].call(
                "POST", f"/v1/cards/{card_id}/{'freeze' if frozen else 'unfreeze'}"
            )
        )

    def purchases(self, purchases: Sequence[tuple[str, PurchasePlan]]) -> list[tuple[str, str | None]]:
        return self.api.run(self._purchases(purchases))

    async def _purchases(self, purchases: Sequence[tuple[str, PurchasePlan]]) -> list[tuple[str, str | None]]:
        answers: list[tuple[str, str | None]] = []
        for card_id, plan in purchases:
            result = await self.api.network(
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
                    await self.api.network("POST", f"/v1/network/authorizations/{authorization_id}/reverse")
                else:
                    await self.api.network(
                        "POST",
                        f"/v1/network/authorizations/{authorization_id}/clear",
                        json={"amount": plan.cleared},
                    )
            answers.append((authorization_id, None if result["approved"] else result["decline_code"]))
        return answers

    def refund(self, card_id: str, authorization_id: str, amount: int) -> int:
        refund = self.api.run(
            self.api.network(
                "POST",
                "/v1/network/refunds",
                json={
                    "card_id": card_id,
                    "amount": amount,
                    "merchant": {"name": "Refund desk", "mcc": "5311", "country": "US"},
                    "authorization_id": authorization_id,
                },
            )
        )
        refunded: int = refund["amount"]
        return refunded

    def latest_statement(self, customer: Customer, account_id: str) -> StatementFacts | None:
        session = self.sessions[customer.index]
        statements, account = self.api.run(
            _both(
                session.call("GET", f"/v1/accounts/{account_id}/statements", params={"limit": 1}),
                session.call("GET", f"/v1/accounts/{account_id}"),
            )
        )
        if not statements["data"]:
            return None
        statement = statements["data"][0]
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
        payment = self.api.run(
            self.sessions[customer.index].call(
                "POST",
                f"/v1/accounts/{account_id}/payments",
                json={"amount": amount, "payment_method": payment_method},
                expect=(201,),
                idempotent=True,
            )
        )
        status: str = payment["status"]
        return status

    # --- the end ---

    def _account_views(self, accounts: Sequence[tuple[Customer, str]]) -> list[_AccountView]:
        """Each account as its holder reads it (every account at once, each read once for both
        the summary's figures and the audit's facts)."""
        missing = [(c, a) for c, a in accounts if a not in self._views]
        if missing:
            limit = asyncio.Semaphore(READS_IN_FLIGHT)

            async def view(customer: Customer, account_id: str) -> tuple[str, _AccountView]:
                session = self.sessions[customer.index]
                base = f"/v1/accounts/{account_id}"

                async def read(path: str, params: dict[str, Any] | None = None) -> Any:
                    async with limit:
                        return await session.call("GET", path, params=params)

                account, statements, transactions = await asyncio.gather(
                    read(base),
                    _every(read, f"{base}/statements", {}),
                    # The whole history, split here: one unfiltered read is the API's cheap path
                    # (four filtered ones cost four requests' overhead for a handful of rows).
                    _every(read, f"{base}/transactions", {}),
                )
                by_kind: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
                for transaction in transactions:
                    if transaction["type"] in by_kind:
                        by_kind[transaction["type"]].append(transaction)
                return account_id, _AccountView(account, statements, by_kind)

            async def every() -> list[tuple[str, _AccountView]]:
                return await asyncio.gather(*(view(c, a) for c, a in missing))

            self._views.update(self.api.run(every()))
        return [self._views[account_id] for _, account_id in accounts]

    def outcomes(self, accounts: Sequence[tuple[Customer, str]]) -> tuple[int, int, int]:
        views = self._account_views(accounts)
        statements = sum(len(view.statements) for view in views)
        # The simulation makes no disputes, so its only fees are late fees.
        late_fees = sum(len(view.transactions["fee"]) for view in views)
        delinquent = sum(1 for view in views if view.account.get("days_past_due", 0) > 0)
        return statements, late_fees, delinquent

    def trial_balance(self) -> dict[str, Any]:
        trial: dict[str, Any] = self.api.run(self.admin.call("GET", "/v1/admin/ledger/trial-balance"))
        return trial

    def billing_facts(self, accounts: Sequence[tuple[Customer, str]]) -> list[AccountFacts]:
        return [
            AccountFacts(
                view.account,
                sorted(view.statements, key=lambda s: s["period_end"]),
                [t for kind in view.transactions.values() for t in kind if t["status"] == "posted"],
            )
            for view in self._account_views(accounts)
        ]

    def login(self, customer: Customer) -> tuple[str, str]:
        return customer.email, customer.password


class _AccountView(NamedTuple):
    account: dict[str, Any]
    statements: list[dict[str, Any]]  # every statement, newest first
    transactions: dict[str, list[dict[str, Any]]]  # every payment, refund, reversal and fee


def _application(body: dict[str, Any]) -> Application:
    return Application(
        body["id"],
        body["status"],
        tuple(body.get("reasons", ())),
        body.get("account_id"),
        body.get("credit_score"),
        body.get("debt_to_income_bps"),
    )


async def _both(first: Awaitable[Any], second: Awaitable[Any]) -> tuple[Any, Any]:
    one, two = await asyncio.gather(first, second)
    return one, two


async def _every(
    read: Callable[[str, dict[str, Any]], Awaitable[Any]], path: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every item of a list endpoint, page after page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await read(path, {**params, "limit": 200, **({"cursor": cursor} if cursor else {})})
        items += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
