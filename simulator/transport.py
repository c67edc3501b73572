"""The seam between the simulated world and the platform: ``Transport``, the calls the world makes.

``simulator.engine.Simulation`` decides everything (who joins and when, what the underwriter
says, what each customer buys, when and how much they pay, the merchants' clears, reversals
and refunds) and makes each call through a transport:

- ``simulator.http_transport.HttpTransport`` (the default): the public HTTP API, as the
  customers' apps, an admin and the card network call it;
- ``simulator.inprocess.InProcessTransport`` (``--bulk``): the service functions the routers
  call, in process, with the routers' arguments, in batches.

Two words the engine's day loop uses:

- a **batch** is a list of customers whose calls share one unit of work
  (:meth:`Transport.unit_of_work`): one database transaction in process, nothing over HTTP
  (where a batch is one customer). A batch's purchases go to the transport together, after
  each customer of the batch has drawn their day (:meth:`Transport.purchases`), then the
  refunds due; its payments follow in the next unit of work;
- a **lane** is the customers whose batches run one after another on one thread
  (:meth:`Transport.lane_of`): each customer is a lane of their own over HTTP; in process, a
  lane is a house-account shard group, so that two threads never write the same house row.

The same seed makes the same world through either transport: the decisions are the engine's,
and each answer a transport gives is the one the platform gives (``tests/simulator``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from simulator.audit import AccountFacts
from simulator.catalogue import Merchant
from simulator.population import Customer


@dataclass(frozen=True)
class PurchasePlan:
    """A purchase and what the merchant does with it if it is approved."""

    merchant: Merchant
    amount: int
    currency: str
    reverse: bool  # about 2 %: the merchant reverses the authorization
    cleared: int  # the clearing amount (a tip above the hold at restaurants and taxis)
    refund: tuple[int, int] | None  # about 1 %: (days later, amount) refunded


@dataclass(frozen=True)
class Application:
    """An application as the platform answers it (after the underwriter's decision, too)."""

    id: str
    status: str
    reasons: tuple[str, ...]
    account_id: str | None
    # What the underwriter looks at, when the answer carries it (then it is not read again).
    credit_score: int | None = None
    debt_to_income_bps: int | None = None


# What a customer reads before paying: the latest statement's closing balance and minimum
# payment, and what the account owes now (current balance plus pending).
StatementFacts = tuple[int, int, int]


class Transport(Protocol):
    """The calls of a simulated world. ``customer`` is whose call it is (their identity on the
    platform is the transport's business); the amounts are cents."""

    @property
    def batch_size(self) -> int:
        """Customers per unit of work (1 over HTTP)."""
        ...

    @property
    def overlaps_onboarding(self) -> bool:
        """Whether each customer's day runs as one chain, the day's newcomers' onboarding (apply,
        the underwriter's decision, autopay) first, every customer at once (over HTTP); or in
        phases: every newcomer's onboarding, then the lanes (in process)."""
        ...

    @property
    def pays_through_stripe(self) -> bool:
        """Whether payments can be made (over HTTP, only with a Stripe emulator to pay at)."""
        ...

    # --- the run ---

    def open(self, start: date | None) -> date:
        """Ready to run (signed in, processes started): the clock moved to ``start`` (default:
        the sandbox clock's day), and that day. ``start`` before the clock: ``ValueError``."""
        ...

    def close(self) -> None: ...

    def unit_of_work(self) -> AbstractContextManager[None]:
        """The calls made inside it commit together (in process) when it ends."""
        ...

    def lane_of(self, customer: Customer, account_id: str) -> int:
        """The lane (see the module) of a customer with an account."""
        ...

    def advance_clock(self, *, days: int) -> list[dict[str, Any]]:
        """The sandbox clock moved and the daily job run: the job's runs, as
        ``POST /v1/sandbox/clock/advance`` answers them."""
        ...

    # --- onboarding ---

    def register_and_apply(self, customer: Customer) -> Application:
        """Register (an earlier run's registration is fine) and apply."""
        ...

    def review_facts(self, application_id: str) -> tuple[int, int]:
        """What the underwriter looks at: the credit score and debt-to-income (bps)."""
        ...

    def decide(self, application_id: str, decision: str) -> Application:
        """The admin's decision; an approval the rules refuse (409/422) becomes a decline."""
        ...

    def account_and_card(self, customer: Customer, account_id: str) -> tuple[int, str]:
        """The account's billing cycle day and its card's id."""
        ...

    def stripe_client(self) -> Any:
        """A Stripe client for the Stripe the platform pays with (the emulator, the stand-in)."""
        ...

    def turn_on_autopay(self, customer: Customer, account_id: str, payment_method: str) -> None: ...

    # --- a customer's day ---

    def set_frozen(self, customer: Customer, card_id: str, *, frozen: bool) -> None: ...

    def purchases(self, purchases: Sequence[tuple[str, PurchasePlan]]) -> list[tuple[str, str | None]]:
        """Each ``(card_id, plan)`` authorized, in order, and when approved cleared or reversed
        as its plan says: each authorization's id and, when declined, its decline code."""
        ...

    def refund(self, card_id: str, authorization_id: str, amount: int) -> int:
        """The merchant's refund of a cleared authorization: the amount refunded."""
        ...

    def latest_statement(self, customer: Customer, account_id: str) -> StatementFacts | None: ...

    def create_payment(
        self, customer: Customer, account_id: str, *, amount: int, payment_method: str, day_index: int
    ) -> str:
        """The payment's status (``succeeded``, ``failed``, ...)."""
        ...

    # --- the end ---

    def outcomes(self, accounts: Sequence[tuple[Customer, str]]) -> tuple[int, int, int]:
        """Statements, late fees and delinquent accounts of these accounts."""
        ...

    def trial_balance(self) -> dict[str, Any]:
        """``balanced``, ``total_debits``, ``total_credits``."""
        ...

    def billing_facts(self, accounts: Sequence[tuple[Customer, str]]) -> list[AccountFacts]:
        """Each account as its holder sees it on the API, for ``simulator.audit``."""
        ...

    def login(self, customer: Customer) -> tuple[str, str]:
        """The customer's email and password, to sign in and look around with."""
        ...


def first_day(now: datetime, start: date | None) -> date:
    """The world's first day: ``start``, or the sandbox clock's day; the clock only moves forward."""
    day = start or now.date()
    if day < now.date():
        raise ValueError(f"--start {day} is before the sandbox clock ({now.date()}); it only moves forward")
    return day
