"""The simulation loop: onboard, spend, pay, and let the sandbox clock close each day.

Determinism: every customer draws from a random stream of their own (seed,
customer, day), and each purchase's fate (reversed or cleared, the tip, a
later refund) from one of its own (seed, customer, day, purchase), drawn
before it is authorized, so that no draw depends on an answer and
``--bulk`` can send a day's purchases in one batch. A customer's requests
run in order on one thread, so a
seed gives the same decisions, spending and payments whatever the thread
scheduling; customers are independent accounts, so running them
concurrently changes no outcome. Days pass one at a time through
``POST /v1/sandbox/clock/advance``, which runs the billing job.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from simulator.audit import AccountFacts, audit
from simulator.catalogue import (
    BY_CATEGORY,
    CATEGORIES,
    FOREIGN_MERCHANTS,
    SUBSCRIPTION_MERCHANTS,
    Merchant,
    draw_amount,
    spend_multiplier,
    tip_amount,
)
from simulator.client import Api, ApiError, UserSession
from simulator.population import Customer, customer_rng, make_customer

GOOD_CARD = "4242424242424242"
# Attaches, then is declined when charged: some payments fail, as in life.
DECLINING_CARD = "4000000000000341"


@dataclass(frozen=True)
class SimulationConfig:
    base_url: str
    customers: int
    days: int
    seed: int
    network_key: str
    admin_email: str
    admin_password: str
    output_dir: Path
    start: date | None = None
    stripe_api_base: str | None = None
    stripe_api_key: str | None = None
    workers: int = 8
    progress: bool = True


@dataclass(frozen=True)
class PurchasePlan:
    """A purchase and what the merchant does with it if it is approved."""

    merchant: Merchant
    amount: int
    currency: str
    reverse: bool  # about 2 %: the merchant reverses the authorization
    cleared: int  # the clearing amount (a tip above the hold at restaurants and taxis)
    refund: tuple[int, int] | None  # about 1 %: (days later, amount) refunded


def plan_purchase(rng: random.Random, merchant: Merchant, amount: int, currency: str) -> PurchasePlan:
    roll = rng.random()
    cleared = tip_amount(rng, amount) if merchant.category.tipping else amount
    refund: tuple[int, int] | None = None
    if roll > 0.99:
        refund_amount = cleared if rng.random() < 0.6 else max(1, cleared // 2)
        refund = (rng.randint(1, 5), refund_amount)
    return PurchasePlan(merchant, amount, currency, roll < 0.02, cleared, refund)


@dataclass
class CustomerState:
    profile: Customer
    session: UserSession | None = None
    application_id: str | None = None
    status: str | None = None
    account_id: str | None = None
    card_id: str | None = None
    cycle_day: int | None = None
    payment_method: str | None = None
    frozen_until: int | None = None
    planned_payment: tuple[int, str] | None = None  # (day index, amount kind)
    planned_refunds: list[tuple[int, str, int]] = field(default_factory=list)
    # Declined for want of credit: the customer stops using the card (their subscriptions still
    # charge it) until they pay or their next statement closes.
    at_limit: bool = False
    # Declined because the account is closed (charged off): the card is put away for good.
    card_closed: bool = False


class DayTally:
    """What happened on one simulated day (merged across threads)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.cents: Counter[str] = Counter()
        self.declines: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, cents: int = 0, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n
            if cents:
                self.cents[name] += cents

    def decline(self, code: str) -> None:
        with self._lock:
            self.declines[code] += 1
            self.counts["authorizations_declined"] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": dict(sorted(self.counts.items())),
            "amounts_cents": dict(sorted(self.cents.items())),
            "declines_by_code": dict(sorted(self.declines.items())),
        }


class Simulation:
    def __init__(self, config: SimulationConfig, *, on_day: Callable[[int, int], None] | None = None) -> None:
        if config.customers < 1 or config.days < 1:
            raise ValueError("customers and days must be at least 1")
        self.config = config
        self.api = Api(config.base_url, network_key=config.network_key, run_tag=f"sim{config.seed}")
        self.on_day = on_day
        self.ground_truth: dict[str, Any] = {}
        self.states: list[CustomerState] = []
        self._stripe: Any = None
        self.sample_login: tuple[str, str] | None = None

    # --- set-up -----------------------------------------------------------------

    def _sandbox_now(self) -> datetime:
        # Through the admin's session: staff access tokens live 5 minutes (issue 21, finding 7),
        # and a call renews an expired one.
        body: dict[str, Any] = self.admin.call("GET", "/v1/sandbox/clock")
        return datetime.fromisoformat(body["now"].replace("Z", "+00:00"))

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin.access_token}"}

    def _advance(self, *, days: int | None = None, to: date | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"days": days} if days is not None else {"to": f"{to}T00:00:00Z"}
        result: dict[str, Any] = self.admin.call("POST", "/v1/sandbox/clock/advance", json=body)
        return result

    def _stripe_client(self) -> Any:
        if self._stripe is None:
            import stripe

            self._stripe = stripe.StripeClient(
                self.config.stripe_api_key or "sk_test_simulator",
                base_addresses={"api": self.config.stripe_api_base} if self.config.stripe_api_base else None,
            )
        return self._stripe

    # --- the run ------------------------------------------------------------------

    def _population(self, start: date) -> list[CustomerState]:
        """The seeded customers, joining over the first days: one definition for both modes,
        so that the same seed makes the same world through the API and with ``--bulk``."""
        config = self.config
        onboarding_days = max(1, min(config.days // 5, 30))
        return [
            CustomerState(
                make_customer(
                    config.seed,
                    index,
                    start=start,
                    onboarding_days=onboarding_days,
                    subscription_count=len(SUBSCRIPTION_MERCHANTS),
                )
            )
            for index in range(config.customers)
        ]

    def run(self) -> dict[str, Any]:
        config = self.config
        self.admin = UserSession(self.api, config.admin_email, config.admin_password)
        now = self._sandbox_now()
        start = config.start or now.date()
        if start > now.date():
            self._advance(to=start)
        elif start < now.date():
            raise ValueError(
                f"--start {start} is before the sandbox clock ({now.date()}); it only moves forward"
            )
        self.states = self._population(start)
        with ThreadPoolExecutor(config.workers) as pool:
            for day_index in range(config.days):
                today = start + timedelta(days=day_index)
                tally = DayTally()
                joining = [s for s in self.states if s.profile.joins_on_day == day_index]
                list(pool.map(partial(self._onboard, tally=tally), joining))
                self._decide_reviews(joining, tally)
                active = [s for s in self.states if s.card_id is not None]
                day = partial(self._customer_day, day_index=day_index, today=today, tally=tally)
                list(pool.map(day, active))
                billing = self._advance(days=1)
                self.ground_truth[today.isoformat()] = {
                    **tally.as_dict(),
                    "billing": billing.get("runs", billing),
                }
                if self.on_day:
                    self.on_day(day_index + 1, config.days)
        summary = self._summary(start)
        self._write(summary)
        opened = next((s.profile for s in self.states if s.account_id), None)
        # A login to look around with (kept out of the files: it is a password).
        self.sample_login = (opened.email, opened.password) if opened else None
        self.api.close()
        return summary

    def _onboard(self, state: CustomerState, tally: DayTally) -> None:
        application = self._register_and_apply(state)
        state.application_id, state.status = application["id"], application["status"]
        tally.add(f"applications_{application['status']}")
        for reason in application["reasons"]:
            tally.add(f"application_reason_{reason}")
        if application["status"] == "approved":
            self._open(state, application["account_id"])

    def _register_and_apply(self, state: CustomerState) -> dict[str, Any]:
        """Register (an earlier run's registration is fine), sign in, apply: the application."""
        profile = self.profile_of(state)
        try:
            self.api.request(
                "POST",
                "/v1/auth/register",
                json={"email": profile.email, "password": profile.password, "full_name": profile.full_name},
                headers={"Idempotency-Key": f"sim{self.config.seed}-register-{profile.index}"},
                expect=(201,),
            )
        except ApiError as error:
            if error.code != "email_taken":
                raise
        state.session = UserSession(self.api, profile.email, profile.password)
        body: dict[str, Any] = {
            "annual_income": profile.annual_income,
            "monthly_housing_payment": profile.monthly_housing_payment,
            "employment_status": profile.employment_status,
            "date_of_birth": profile.date_of_birth.isoformat(),
        }
        if profile.requested_credit_limit is not None:
            body["requested_credit_limit"] = profile.requested_credit_limit
        application: dict[str, Any] = state.session.call(
            "POST", "/v1/applications", json=body, expect=(201,), idempotent=True
        )
        return application

    @staticmethod
    def profile_of(state: CustomerState) -> Customer:
        return state.profile

    def _decide_reviews(self, joining: list[CustomerState], tally: DayTally) -> None:
        """A simulated underwriter: approves reviews with a fair score and housing under 45 %."""
        for state in joining:
            if state.status != "manual_review" or state.application_id is None:
                continue
            credit_score, debt_to_income_bps = self._review_facts(state.application_id)
            approve = credit_score >= 600 and debt_to_income_bps <= 4_500
            decided = self._decide(state.application_id, "approved" if approve else "declined")
            state.status = decided["status"]
            tally.add(f"reviews_{decided['status']}")
            if decided["status"] == "approved":
                self._open(state, decided["account_id"])

    def _review_facts(self, application_id: str) -> tuple[int, int]:
        """What the simulated underwriter looks at: credit score and debt-to-income (bps)."""
        application = self.admin.call("GET", f"/v1/applications/{application_id}")
        return application["credit_score"], application["debt_to_income_bps"]

    def _decide(self, application_id: str, decision: str) -> dict[str, Any]:
        """The admin's decision; an approval the rules refuse (409/422) becomes a decline."""
        path = f"/v1/applications/{application_id}/decision"
        try:
            decided: dict[str, Any] = self.admin.call("POST", path, json={"decision": decision})
        except ApiError as error:
            if error.status not in (409, 422):
                raise
            decided = self.admin.call("POST", path, json={"decision": "declined"})
        return decided

    def _open(self, state: CustomerState, account_id: str) -> None:
        state.account_id = account_id
        state.cycle_day, state.card_id = self._account_and_card(state, account_id)
        if state.profile.autopay and self.pays_through_stripe:
            self._turn_on_autopay(state)

    @property
    def pays_through_stripe(self) -> bool:
        return self.config.stripe_api_base is not None

    def _account_and_card(self, state: CustomerState, account_id: str) -> tuple[int, str]:
        assert state.session is not None
        account = state.session.call("GET", f"/v1/accounts/{account_id}")
        cards = state.session.call("GET", f"/v1/accounts/{account_id}/cards")["data"]
        return account["billing_cycle_day"], cards[0]["id"]

    def _turn_on_autopay(self, state: CustomerState) -> None:
        assert state.session is not None
        state.session.call(
            "PUT",
            f"/v1/accounts/{state.account_id}/autopay",
            json={
                "enabled": True,
                "amount": "statement_balance",
                "payment_method": self._payment_method(state),
            },
        )

    def _payment_method(self, state: CustomerState) -> str:
        if state.payment_method is None:
            rng = customer_rng(self.config.seed, state.profile.index, "card")
            number = DECLINING_CARD if rng.random() < 0.05 else GOOD_CARD
            method = self._stripe_client().v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
                }
            )
            state.payment_method = str(method.id)
        return state.payment_method

    # --- one customer's day ----------------------------------------------------------

    def _customer_day(self, state: CustomerState, day_index: int, today: date, tally: DayTally) -> None:
        """A customer's day. What they learnt from the card's answers (a decline for want of
        credit, a closed account) changes what they do from the next day on, in both modes: the
        bulk mode hears a batch's answers only after the batch."""
        rng = customer_rng(self.config.seed, state.profile.index, "day", day_index)
        assert state.card_id is not None
        if state.at_limit and (today - timedelta(days=1)).day == state.cycle_day:
            state.at_limit = False  # a new statement: they try the card again
        # Read once: the HTTP mode hears each answer at once, and must not act on it before tomorrow.
        at_limit = state.at_limit
        if not state.card_closed:
            self._lost_card(state, rng, day_index, tally)
            for number, (merchant, amount, currency) in enumerate(self._purchases(state, rng, today)):
                if at_limit and not merchant.category.subscription:
                    continue
                fate = customer_rng(self.config.seed, state.profile.index, "purchase", day_index, number)
                self._purchase(state, day_index, plan_purchase(fate, merchant, amount, currency), tally)
        due = [r for r in state.planned_refunds if r[0] == day_index]
        for refund in due:
            state.planned_refunds.remove(refund)
        self._refunds_due(state, [(authorization_id, amount) for _, authorization_id, amount in due], tally)
        self._payments(state, rng, day_index, today, tally)

    def _refunds_due(self, state: CustomerState, refunds: list[tuple[str, int]], tally: DayTally) -> None:
        for authorization_id, amount in refunds:
            tally.add("refunds", self._refund(state, authorization_id, amount))

    # --- the network's and the cardholder's calls (``simulator.bulk`` makes them in process) ---------

    def _refund(self, state: CustomerState, authorization_id: str, amount: int) -> int:
        refund = self.api.network(
            "POST",
            "/v1/network/refunds",
            json={
                "card_id": state.card_id,
                "amount": amount,
                "merchant": {"name": "Refund desk", "mcc": "5311", "country": "US"},
                "authorization_id": authorization_id,
            },
        )
        refunded: int = refund["amount"]
        return refunded

    def _set_frozen(self, state: CustomerState, *, frozen: bool) -> None:
        assert state.session is not None
        state.session.call("POST", f"/v1/cards/{state.card_id}/{'freeze' if frozen else 'unfreeze'}")

    def _authorize(
        self, state: CustomerState, merchant: Merchant, amount: int, currency: str
    ) -> tuple[str, str | None]:
        """The authorization's id and, when declined, its decline code."""
        result = self.api.network(
            "POST",
            "/v1/network/authorizations",
            json={
                "card_id": state.card_id,
                "amount": amount,
                "currency": currency,
                "merchant": {
                    "name": merchant.name,
                    "mcc": merchant.category.mcc,
                    "country": merchant.country,
                },
            },
        )
        return result["id"], None if result["approved"] else result["decline_code"]

    def _reverse(self, authorization_id: str) -> None:
        self.api.network("POST", f"/v1/network/authorizations/{authorization_id}/reverse")

    def _clear(self, authorization_id: str, amount: int) -> None:
        self.api.network(
            "POST", f"/v1/network/authorizations/{authorization_id}/clear", json={"amount": amount}
        )

    def _lost_card(self, state: CustomerState, rng: random.Random, day_index: int, tally: DayTally) -> None:
        if state.frozen_until is not None and day_index >= state.frozen_until:
            self._set_frozen(state, frozen=False)
            state.frozen_until = None
            tally.add("cards_unfrozen")
        elif state.frozen_until is None and rng.random() < 0.002:
            self._set_frozen(state, frozen=True)
            state.frozen_until = day_index + rng.randint(1, 3)
            tally.add("cards_frozen")

    def _purchases(
        self, state: CustomerState, rng: random.Random, today: date
    ) -> list[tuple[Merchant, int, str]]:
        profile = state.profile
        days_in_month = ((today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)).day
        multiplier = spend_multiplier(today.weekday(), today.day, days_in_month)
        purchases: list[tuple[Merchant, int, str]] = []
        if today.day == 1 + profile.index % 28:
            for index in profile.subscriptions:
                merchant = SUBSCRIPTION_MERCHANTS[index]
                purchases.append((merchant, draw_amount(rng, merchant, 1.0), "USD"))
        for name, category in CATEGORIES.items():
            if category.subscription or category.per_day == 0:
                continue
            weekend = category.weekend_factor if today.weekday() >= 5 else 1.0
            for _ in range(_poisson(rng, category.per_day * profile.activity * multiplier * weekend)):
                merchant = rng.choice(BY_CATEGORY[name])
                purchases.append((merchant, draw_amount(rng, merchant, profile.appetite), "USD"))
        if rng.random() < 0.004:
            merchant = rng.choice(FOREIGN_MERCHANTS)
            purchases.append((merchant, draw_amount(rng, merchant, profile.appetite), "EUR"))
        return purchases

    def _purchase(self, state: CustomerState, day_index: int, plan: PurchasePlan, tally: DayTally) -> None:
        authorization_id, decline_code = self._authorize(state, plan.merchant, plan.amount, plan.currency)
        if decline_code is None:
            if plan.reverse:
                self._reverse(authorization_id)
            else:
                self._clear(authorization_id, plan.cleared)
        self._record_purchase(state, day_index, plan, authorization_id, decline_code, tally)

    @staticmethod
    def _record_purchase(
        state: CustomerState,
        day_index: int,
        plan: PurchasePlan,
        authorization_id: str,
        decline_code: str | None,
        tally: DayTally,
    ) -> None:
        if decline_code is not None:
            tally.decline(decline_code)
            if decline_code == "insufficient_credit":
                state.at_limit = True
            elif decline_code in ("account_closed", "card_closed"):
                state.card_closed = True
            return
        tally.add("authorizations_approved", plan.amount)
        if plan.reverse:
            tally.add("reversals", plan.amount)
            return
        tally.add("cleared", plan.cleared)
        if plan.refund is not None:
            days_later, amount = plan.refund
            state.planned_refunds.append((day_index + days_later, authorization_id, amount))

    def _payments(
        self, state: CustomerState, rng: random.Random, day_index: int, today: date, tally: DayTally
    ) -> None:
        yesterday = today - timedelta(days=1)
        if state.cycle_day is not None and yesterday.day == state.cycle_day and day_index > 0:
            self._plan_payment(state, rng, day_index)
        if state.planned_payment is None or state.planned_payment[0] != day_index:
            return
        _, kind = state.planned_payment
        state.planned_payment = None
        if self.pays_through_stripe:
            self._pay(state, kind, day_index, tally)

    def _pay(self, state: CustomerState, kind: str, day_index: int, tally: DayTally) -> None:
        """Pay the latest statement in full, its minimum or half-way, never above what is owed."""
        found = self._latest_statement(state)
        if found is None:
            return
        closing_balance, minimum_payment, owed = found
        planned = {
            "full": closing_balance,
            "minimum": minimum_payment,
            "partial": (minimum_payment + closing_balance) // 2,
        }[kind]
        amount = min(planned, owed)
        if amount <= 0:
            return
        status = self._create_payment(state, amount, day_index)
        tally.add(f"payments_{status}", amount)
        if status == "succeeded":
            state.at_limit = False  # credit freed: back to the card tomorrow

    def _latest_statement(self, state: CustomerState) -> tuple[int, int, int] | None:
        """The latest statement's closing balance and minimum payment, and what is owed now."""
        assert state.session is not None
        statements = state.session.call(
            "GET", f"/v1/accounts/{state.account_id}/statements", params={"limit": 1}
        )
        if not statements["data"]:
            return None
        statement = statements["data"][0]
        account = state.session.call("GET", f"/v1/accounts/{state.account_id}")
        return (
            statement["closing_balance"],
            statement["minimum_payment"],
            account["current_balance"] + account["pending_amount"],
        )

    def _create_payment(self, state: CustomerState, amount: int, day_index: int) -> str:  # noqa: ARG002
        assert state.session is not None
        payment = state.session.call(
            "POST",
            f"/v1/accounts/{state.account_id}/payments",
            json={"amount": amount, "payment_method": self._payment_method(state)},
            expect=(201,),
            idempotent=True,
        )
        status: str = payment["status"]
        return status

    def _plan_payment(self, state: CustomerState, rng: random.Random, day_index: int) -> None:
        profile = state.profile
        if profile.autopay:
            return
        # The statement closed yesterday; it is due 23 to 26 days after closing (the same day
        # each month, api.billing.rules.payment_due_date): plan within the shortest.
        due_in = 23
        if rng.random() < (0.6 if profile.payer == "misser" else 0.06):
            return  # this month slips by: late fee and delinquency follow
        kind = {"full": "full", "minimum": "minimum", "partial": "partial", "misser": "minimum"}[
            profile.payer
        ]
        state.planned_payment = (day_index + rng.randint(max(1, due_in - 12), due_in - 1), kind)

    # --- the end -------------------------------------------------------------------------

    def _summary(self, start: date) -> dict[str, Any]:
        totals: Counter[str] = Counter()
        cents: Counter[str] = Counter()
        declines: Counter[str] = Counter()
        for day in self.ground_truth.values():
            totals.update(day["counts"])
            cents.update(day["amounts_cents"])
            declines.update(day["declines_by_code"])
        statements, late_fees, delinquent = self._outcomes()
        trial = self._trial_balance()
        last_day_run = start + timedelta(days=self.config.days - 1)
        billing_audit = audit(self._billing_facts(), last_day_run=last_day_run)
        return {
            "seed": self.config.seed,
            "start": start.isoformat(),
            "days": self.config.days,
            "customers": self.config.customers,
            "approved_accounts": sum(1 for s in self.states if s.account_id),
            "applications": {
                k[len("applications_") :]: v for k, v in totals.items() if k.startswith("applications_")
            },
            "authorizations_approved": totals["authorizations_approved"],
            "authorizations_declined": dict(sorted(declines.items())),
            "cleared_count": totals["cleared"],
            "cleared_cents": cents["cleared"],
            "refunds": totals["refunds"],
            "reversals": totals["reversals"],
            "payments": {k[len("payments_") :]: v for k, v in totals.items() if k.startswith("payments_")},
            "payments_cents": sum(v for k, v in cents.items() if k.startswith("payments_")),
            "statements": statements,
            # Every call the simulated customers, underwriter and network made (not the reads).
            "events": sum(v for k, v in totals.items() if not k.startswith("application_reason_")),
            "late_fees": late_fees,
            "delinquent_accounts": delinquent,
            # Accounts the daily job failed on (it logs each and goes on): none, in a sound world.
            "daily_job_failures": sum(
                run.get("counts", {}).get("failed", 0)
                for day in self.ground_truth.values()
                for run in day.get("billing", [])
            ),
            # Issue 20's rules checked on what the customers are shown (simulator.audit): all 0.
            "billing_audit": billing_audit,
            "trial_balance": {
                "balanced": trial["balanced"],
                "total_debits": trial["total_debits"],
                "total_credits": trial["total_credits"],
            },
        }

    def _outcomes(self) -> tuple[int, int, int]:
        """Statements, late fees and delinquent accounts of the simulated customers."""
        statements = late_fees = delinquent = 0
        for state in self.states:
            if state.account_id is None or state.session is None:
                continue
            statements += len(
                state.session.call(
                    "GET", f"/v1/accounts/{state.account_id}/statements", params={"limit": 200}
                )["data"]
            )
            fees = state.session.call(
                "GET", f"/v1/accounts/{state.account_id}/transactions", params={"type": "fee", "limit": 200}
            )["data"]
            # The simulation makes no disputes, so its only fees are late fees.
            late_fees += len(fees)
            account = state.session.call("GET", f"/v1/accounts/{state.account_id}")
            if account.get("days_past_due", 0) > 0:
                delinquent += 1
        return statements, late_fees, delinquent

    def _billing_facts(self) -> list[AccountFacts]:
        """Each simulated account as its holder sees it on the API, for ``simulator.audit``."""
        facts = []
        for state in self.states:
            if state.account_id is None or state.session is None:
                continue
            base = f"/v1/accounts/{state.account_id}"
            transactions = [
                t
                for kind in ("payment", "refund", "reversal", "fee")
                for t in self._every(state, f"{base}/transactions", {"type": kind})
                if t["status"] == "posted"
            ]
            statements = sorted(self._every(state, f"{base}/statements", {}), key=lambda s: s["period_end"])
            facts.append(AccountFacts(state.session.call("GET", base), statements, transactions))
        return facts

    @staticmethod
    def _every(state: CustomerState, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page after page."""
        assert state.session is not None
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = state.session.call(
                "GET", path, params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
            )
            items += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def _trial_balance(self) -> dict[str, Any]:
        trial: dict[str, Any] = self.admin.call("GET", "/v1/admin/ledger/trial-balance")
        return trial

    def _write(self, summary: dict[str, Any]) -> None:
        folder = self.config.output_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        (folder / "ground_truth.json").write_text(json.dumps(self.ground_truth, indent=2, sort_keys=True))


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small daily means here."""
    if mean <= 0:
        return 0
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
