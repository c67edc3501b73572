"""The simulated world: who joins, what they buy, when they pay; one day loop for both transports.

``Simulation`` decides everything and makes its calls through a transport
(``simulator.transport.Transport``): over HTTP (``simulator.http_transport``,
the default) or to the services in process (``simulator.inprocess``,
``--bulk``). Each day: the day's newcomers register and apply (in batches, on
the worker threads), the underwriter decides the manual reviews, autopay is
turned on; then every customer with a card lives their day, lane by lane on
the worker threads, batch by batch within a lane (see the transport's module
for both words); then the sandbox clock moves a day, which runs the daily job.

Determinism: every customer draws from a random stream of their own (seed,
customer, day), and each purchase's fate (reversed or cleared, the tip, a
later refund) from one of its own (seed, customer, day, purchase), drawn
before it is authorized, so that no draw depends on an answer and a batch's
purchases can be sent together. A customer's calls run in order on one
thread, so a seed gives the same decisions, spending and payments whatever
the thread scheduling; customers are independent accounts, so running them
concurrently (or in batches) changes no outcome. A customer hears the card's
answers and acts on them from the next day on, whatever the transport.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from simulator.audit import audit
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
from simulator.population import Customer, customer_rng, make_customer
from simulator.transport import PurchasePlan, Transport

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
    application_id: str | None = None
    status: str | None = None
    review_facts: tuple[int, int] | None = None  # the application's credit score and DTI (bps)
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


@dataclass
class CustomerDay:
    """What a customer's day sends on once their batch has drawn its day: the purchases, the
    refunds due (authorization id, amount), and the payment due today (its amount kind)."""

    purchases: list[PurchasePlan]
    refunds: list[tuple[str, int]]
    payment: str | None


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
    def __init__(
        self,
        config: SimulationConfig,
        *,
        transport: Transport | None = None,
        on_day: Callable[[int, int], None] | None = None,
    ) -> None:
        """``transport``: default, the HTTP API at ``config.base_url``."""
        if config.customers < 1 or config.days < 1:
            raise ValueError("customers and days must be at least 1")
        if transport is None:
            from simulator.http_transport import HttpTransport

            transport = HttpTransport(config)
        self.config = config
        self.transport = transport
        self.on_day = on_day
        self.ground_truth: dict[str, Any] = {}
        self.states: list[CustomerState] = []
        self.sample_login: tuple[str, str] | None = None

    # --- the run ------------------------------------------------------------------

    def _population(self, start: date) -> list[CustomerState]:
        """The seeded customers, joining over the first days: one definition for both transports,
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
        config, transport = self.config, self.transport
        try:
            start = transport.open(config.start)
            self.states = self._population(start)
            with ThreadPoolExecutor(config.workers) as pool:
                for day_index in range(config.days):
                    today = start + timedelta(days=day_index)
                    tally = DayTally()
                    if transport.overlaps_onboarding:
                        self._chains_day(pool, day_index, today, tally)
                    else:
                        self._phases_day(pool, day_index, today, tally)
                    billing = transport.advance_clock(days=1)
                    self.ground_truth[today.isoformat()] = {**tally.as_dict(), "billing": billing}
                    if self.on_day:
                        self.on_day(day_index + 1, config.days)
            summary = self._summary(start)
            self._write(summary)
            opened = next((s.profile for s in self.states if s.account_id), None)
            # A login to look around with (kept out of the files: it is a password).
            self.sample_login = transport.login(opened) if opened else None
        finally:
            transport.close()
        return summary

    def _phases_day(self, pool: ThreadPoolExecutor, day_index: int, today: date, tally: DayTally) -> None:
        """In process: every newcomer's onboarding, in batches; then the lanes, batch by batch."""
        joining = [s for s in self.states if s.profile.joins_on_day == day_index]
        self._onboard(pool, joining, tally)
        lanes: dict[int, list[CustomerState]] = defaultdict(list)
        for state in self.states:
            if state.card_id is not None:
                assert state.account_id is not None
                lanes[self.transport.lane_of(state.profile, state.account_id)].append(state)
        day = partial(self._lane_day, day_index=day_index, today=today, tally=tally)
        list(pool.map(day, lanes.values()))

    def _chains_day(self, pool: ThreadPoolExecutor, day_index: int, today: date, tally: DayTally) -> None:
        """Over HTTP: each customer's day as one chain (a newcomer's onboarding first), every
        customer at once, so that newcomers' registrations (an argon2 hash each, twice) overlap
        the others' spending. A customer's calls are the ones the phases make, in the same
        order; customers are independent accounts, so the world is the same."""
        chain = partial(self._customer_chain, day_index=day_index, today=today, tally=tally)
        active = [s for s in self.states if s.card_id is not None or s.profile.joins_on_day == day_index]
        list(pool.map(chain, active))

    def _customer_chain(self, state: CustomerState, day_index: int, today: date, tally: DayTally) -> None:
        transport = self.transport
        if state.profile.joins_on_day == day_index:
            with transport.unit_of_work():
                self._apply(state, tally)
            with transport.unit_of_work():
                self._decide_reviews([state], tally)
            if transport.pays_through_stripe and state.account_id is not None and state.profile.autopay:
                with transport.unit_of_work():
                    transport.turn_on_autopay(state.profile, state.account_id, self._payment_method(state))
        if state.card_id is not None:
            self._batch_day([state], day_index, today, tally)

    def _batches(
        self, states: Sequence[CustomerState], size: int | None = None
    ) -> list[Sequence[CustomerState]]:
        size = size or self.transport.batch_size
        return [states[first : first + size] for first in range(0, len(states), size)]

    def _spread(self, states: Sequence[CustomerState]) -> list[Sequence[CustomerState]]:
        """Batches for work any split will do: at most a batch each, and every worker busy."""
        share = -(-len(states) // self.config.workers)
        return self._batches(states, max(1, min(self.transport.batch_size, share)))

    # --- onboarding -------------------------------------------------------------------

    def _onboard(self, pool: ThreadPoolExecutor, joining: list[CustomerState], tally: DayTally) -> None:
        """The day's newcomers register and apply in batches (no house account is touched: any
        split will do), then the underwriter's decisions, then autopay (its Stripe customer is
        made in a transaction of its own, which must see the committed user); each phase's
        batches on the worker threads (applications and accounts are the customer's own)."""

        def apply(batch: Sequence[CustomerState]) -> None:
            with self.transport.unit_of_work():
                for state in batch:
                    self._apply(state, tally)

        def decide(batch: Sequence[CustomerState]) -> None:
            with self.transport.unit_of_work():
                self._decide_reviews(batch, tally)

        def autopay(batch: Sequence[CustomerState]) -> None:
            with self.transport.unit_of_work():
                for state in batch:
                    if state.account_id is not None and state.profile.autopay:
                        self.transport.turn_on_autopay(
                            state.profile, state.account_id, self._payment_method(state)
                        )

        list(pool.map(apply, self._spread(joining)))
        reviews = [s for s in joining if s.status == "manual_review"]
        list(pool.map(decide, self._spread(reviews)))
        if self.transport.pays_through_stripe:
            list(pool.map(autopay, self._spread(joining)))

    def _apply(self, state: CustomerState, tally: DayTally) -> None:
        application = self.transport.register_and_apply(state.profile)
        state.application_id, state.status = application.id, application.status
        if application.credit_score is not None and application.debt_to_income_bps is not None:
            state.review_facts = (application.credit_score, application.debt_to_income_bps)
        tally.add(f"applications_{application.status}")
        for reason in application.reasons:
            tally.add(f"application_reason_{reason}")
        if application.status == "approved":
            assert application.account_id is not None
            self._open(state, application.account_id)

    def _decide_reviews(self, joining: Sequence[CustomerState], tally: DayTally) -> None:
        """A simulated underwriter: approves reviews with a fair score and housing under 45 %."""
        for state in joining:
            if state.status != "manual_review" or state.application_id is None:
                continue
            credit_score, debt_to_income_bps = state.review_facts or self.transport.review_facts(
                state.application_id
            )
            approve = credit_score >= 600 and debt_to_income_bps <= 4_500
            decided = self.transport.decide(state.application_id, "approved" if approve else "declined")
            state.status = decided.status
            tally.add(f"reviews_{decided.status}")
            if decided.status == "approved":
                assert decided.account_id is not None
                self._open(state, decided.account_id)

    def _open(self, state: CustomerState, account_id: str) -> None:
        state.account_id = account_id
        state.cycle_day, state.card_id = self.transport.account_and_card(state.profile, account_id)

    def _payment_method(self, state: CustomerState) -> str:
        if state.payment_method is None:
            rng = customer_rng(self.config.seed, state.profile.index, "card")
            number = DECLINING_CARD if rng.random() < 0.05 else GOOD_CARD
            method = self.transport.stripe_client().v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
                }
            )
            state.payment_method = str(method.id)
        return state.payment_method

    # --- the customers' days ----------------------------------------------------------

    def _lane_day(self, lane: list[CustomerState], day_index: int, today: date, tally: DayTally) -> None:
        for batch in self._batches(lane):
            self._batch_day(batch, day_index, today, tally)

    def _batch_day(
        self, batch: Sequence[CustomerState], day_index: int, today: date, tally: DayTally
    ) -> None:
        """Each customer of the batch draws their day; then the batch's purchases go together,
        and the refunds due (for each account, after its purchases); the payments follow in the
        next unit of work (in process, the payments service commits short transactions of its
        own that lock the receivable the batch's purchases wrote)."""
        transport = self.transport
        purchases: list[tuple[CustomerState, PurchasePlan]] = []
        refunds: list[tuple[CustomerState, list[tuple[str, int]]]] = []
        payments: list[tuple[CustomerState, str]] = []
        with transport.unit_of_work():
            for state in batch:
                day = self._customer_day(state, day_index, today, tally)
                purchases += [(state, plan) for plan in day.purchases]
                if day.refunds:
                    refunds.append((state, day.refunds))
                if day.payment is not None:
                    payments.append((state, day.payment))
            answers = transport.purchases([(_card(state), plan) for state, plan in purchases])
            for (state, plan), (authorization_id, decline_code) in zip(purchases, answers, strict=True):
                self._record_purchase(state, day_index, plan, authorization_id, decline_code, tally)
            for state, due in refunds:
                for authorization_id, amount in due:
                    tally.add("refunds", transport.refund(_card(state), authorization_id, amount))
        if payments:
            with transport.unit_of_work():
                for state, kind in payments:
                    self._pay(state, kind, day_index, tally)

    def _customer_day(
        self, state: CustomerState, day_index: int, today: date, tally: DayTally
    ) -> CustomerDay:
        """A customer's day. What they learnt from the card's answers (a decline for want of
        credit, a closed account) changes what they do from the next day on: a batch's answers
        come after every customer of the batch has drawn their day."""
        rng = customer_rng(self.config.seed, state.profile.index, "day", day_index)
        assert state.card_id is not None
        if state.at_limit and (today - timedelta(days=1)).day == state.cycle_day:
            state.at_limit = False  # a new statement: they try the card again
        purchases: list[PurchasePlan] = []
        if not state.card_closed:
            self._lost_card(state, rng, day_index, tally)
            for number, (merchant, amount, currency) in enumerate(self._purchases(state, rng, today)):
                if state.at_limit and not merchant.category.subscription:
                    continue
                fate = customer_rng(self.config.seed, state.profile.index, "purchase", day_index, number)
                purchases.append(plan_purchase(fate, merchant, amount, currency))
        due = [r for r in state.planned_refunds if r[0] == day_index]
        for refund in due:
            state.planned_refunds.remove(refund)
        refunds = [(authorization_id, amount) for _, authorization_id, amount in due]
        return CustomerDay(purchases, refunds, self._payment_due(state, rng, day_index, today))

    def _lost_card(self, state: CustomerState, rng: random.Random, day_index: int, tally: DayTally) -> None:
        assert state.card_id is not None
        if state.frozen_until is not None and day_index >= state.frozen_until:
            self.transport.set_frozen(state.profile, state.card_id, frozen=False)
            state.frozen_until = None
            tally.add("cards_unfrozen")
        elif state.frozen_until is None and rng.random() < 0.002:
            self.transport.set_frozen(state.profile, state.card_id, frozen=True)
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

    def _payment_due(
        self, state: CustomerState, rng: random.Random, day_index: int, today: date
    ) -> str | None:
        """The amount kind of the payment the customer makes today, if any."""
        yesterday = today - timedelta(days=1)
        if state.cycle_day is not None and yesterday.day == state.cycle_day and day_index > 0:
            self._plan_payment(state, rng, day_index)
        if state.planned_payment is None or state.planned_payment[0] != day_index:
            return None
        _, kind = state.planned_payment
        state.planned_payment = None
        return kind if self.transport.pays_through_stripe else None

    def _pay(self, state: CustomerState, kind: str, day_index: int, tally: DayTally) -> None:
        """Pay the latest statement in full, its minimum or half-way, never above what is owed."""
        assert state.account_id is not None
        found = self.transport.latest_statement(state.profile, state.account_id)
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
        status = self.transport.create_payment(
            state.profile,
            state.account_id,
            amount=amount,
            payment_method=self._payment_method(state),
            day_index=day_index,
        )
        tally.add(f"payments_{status}", amount)
        if status == "succeeded":
            state.at_limit = False  # credit freed: back to the card tomorrow

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
        accounts = [(s.profile, s.account_id) for s in self.states if s.account_id is not None]
        statements, late_fees, delinquent = self.transport.outcomes(accounts)
        trial = self.transport.trial_balance()
        last_day_run = start + timedelta(days=self.config.days - 1)
        billing_audit = audit(self.transport.billing_facts(accounts), last_day_run=last_day_run)
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

    def _write(self, summary: dict[str, Any]) -> None:
        folder = self.config.output_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        (folder / "ground_truth.json").write_text(json.dumps(self.ground_truth, indent=2, sort_keys=True))


def _card(state: CustomerState) -> str:
    assert state.card_id is not None
    return state.card_id


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small daily means here."""
    if mean <= 0:
        return 0
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
