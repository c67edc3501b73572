"""``--bulk``: the world's calls to the API's service layer in process (``InProcessTransport``).

Each call is the service function the router would call, with the router's arguments
(``auth.service.register``, ``applications.service.apply/decide``, ``cards.service.set_frozen``,
``network.service.refund``, ``payments.service.create_payment/set_autopay``,
``api.jobs.daily.advance_clock``), except a batch's purchases, which go to the database
function ``network_batch`` in one statement (:func:`authorize_batch`).

Faster than HTTP because:

- **no HTTP, no tokens**: no request parsing, access log, idempotency rows
  or argon2 login per customer; the customers share one password, hashed
  once and handed to ``register`` ready-made;
- **batches**: a worker runs the day of ``batch_size`` customers in one
  transaction and commits once (the services flush, never commit), and
  sends the batch's purchases in one statement (:func:`authorize_batch`:
  each authorized as the network's message would be, then cleared or
  reversed, in order), then the refunds due (for each account, the HTTP
  mode's order); connections use ``synchronous_commit = off``
  (:func:`bulk_sessions`);
- **lanes without lock conflicts**: the ledger's house accounts are split
  in ``HOUSE_SHARDS`` shards chosen by the customer account
  (``api.ledger.service.house``); customers go to lane ``shard % workers``,
  so two workers never write the same house row and batches never wait on
  (or deadlock with) each other;
- **the daily job's accounts in a process per core**
  (:meth:`InProcessTransport._start_job_processes`, handed to
  ``api.jobs.daily.advance_clock``), split by house shard as the lanes are;
- **payments** go through the payments service with an in-process Stripe
  stand-in (``simulator.stripe_standin``; why: see there). A customer's
  payments run after the batch holding their purchases has committed,
  because the service commits short transactions of its own that lock the
  same receivable.

The bulk-only paths live here, not in the domains: :func:`authorize_batch` (the one caller of
``network_batch``, whose source is the network domain's SQL) and the daily job's process pool.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from simulator.audit import AccountFacts
from simulator.population import Customer
from simulator.transport import Application, PurchasePlan, StatementFacts, first_day

if TYPE_CHECKING:
    from api.auth.security import Principal
    from api.network.service import AuthorizationRequest
    from simulator.engine import SimulationConfig

BATCH_SIZE = 100
ADMIN_NAME = "Simulated underwriter"


class InProcessTransport:
    # Onboarding in batches before the lanes: a lane is a house-shard group, which a newcomer
    # has none of until their account opens.
    overlaps_onboarding = False

    def __init__(
        self, config: SimulationConfig, *, database_url: str, card_data_key: str, batch_size: int = BATCH_SIZE
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        from api.applications.bureau import SandboxBureau
        from api.auth.security import hash_password
        from api.cards.numbers import CardVault
        from api.clock import Clock
        from simulator.stripe_standin import InProcessStripe

        self.config = config
        self.batch_size = batch_size
        self.database_url = database_url
        self.sessions: sessionmaker[Session] = bulk_sessions(database_url, pool_size=config.workers + 2)
        self.engine = self.sessions.kw["bind"]
        self._job_processes: ProcessPoolExecutor | None = None
        self.clock = Clock(movable=True, engine=self.engine)
        self.vault = CardVault(card_data_key)
        # A sandbox world (a movable clock): scored by the sandbox bureau, as the HTTP mode's
        # sandbox API scores it, so both modes decide alike.
        self.bureau = SandboxBureau()
        self.stripe = InProcessStripe(self.clock.now)
        self._local = threading.local()
        self.admin_id = ""
        self.user_ids: dict[int, str] = {}
        # One password for the bulk world's customers, hashed once: argon2 for each of 10,000
        # customers would take minutes of both cores (the HTTP mode gives each their own).
        self.password = f"sim-password-{config.seed}"
        self.password_hash = hash_password(self.password)

    pays_through_stripe = True

    @property
    def session(self) -> Session:
        """The calling worker's open unit of work."""
        current: Session = self._local.session
        return current

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        with self.sessions() as session:
            self._local.session = session
            try:
                yield
                session.commit()
            finally:
                self._local.session = None

    def _principal(self, customer: Customer) -> Principal:
        from api.auth.security import Principal

        return Principal(user_id=self.user_ids[customer.index], role="customer", token_id="bulk")

    # --- the run ---

    def open(self, start: date | None) -> date:
        from api.auth import service as auth_service

        self._job_processes = self._start_job_processes()
        now = self.clock.now()
        day = first_day(now, start)
        if day > now.date():
            self._advance(to=datetime.combine(day, time(0), UTC))
        with self.unit_of_work():
            # The platform's first admin decides, as in the HTTP mode; without one, an underwriter
            # whose password nobody knows.
            self.admin_id = auth_service.ensure_user(
                self.session,
                email=self.config.admin_email or f"sim{self.config.seed}.underwriter@example.com",
                password=secrets.token_urlsafe(24),
                full_name=ADMIN_NAME,
                role="admin",
            )[0].id
        return day

    def close(self) -> None:
        if self._job_processes is not None:
            self._job_processes.shutdown()
        self.engine.dispose()

    def _start_job_processes(self) -> ProcessPoolExecutor | None:
        """Processes for the daily job's accounts, one per core (``api.jobs.daily.run_day``): its
        steps are Python-bound, and the job's threads shared one interpreter lock (Python ran
        ~85 % of one core in a two-thread job). Each has an engine of its own
        (:func:`bulk_sessions`). They come from a fork server, not from this process, which has
        threads and connections by then; as with any spawned process, the program's
        ``__main__`` is imported in them, so a script that runs a simulation must do so under
        ``if __name__ == "__main__"`` (the ``cardportal`` command does)."""
        from api.jobs import daily as daily_job

        cores = min(self.config.workers, os.cpu_count() or 1)
        if cores < 2:
            return None
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["api.jobs.daily", "simulator.inprocess"])
        return ProcessPoolExecutor(
            cores,
            mp_context=context,
            initializer=daily_job.init_worker,
            initargs=(partial(bulk_sessions, self.database_url, pool_size=1),),
        )

    def lane_of(self, customer: Customer, account_id: str) -> int:  # noqa: ARG002
        from api.ledger import service as ledger

        return ledger.house_shard(account_id) % self.config.workers

    def advance_clock(self, *, days: int) -> list[dict[str, Any]]:
        return self._advance(days=days)

    def _advance(self, *, days: int | None = None, to: datetime | None = None) -> list[dict[str, Any]]:
        """The sandbox clock moves and the daily job runs: what ``POST /v1/sandbox/clock/advance`` does."""
        from api.billing.schemas import BillingRunOut
        from api.jobs import daily as daily_job

        move = daily_job.advance_clock(
            self.sessions,
            self.clock,
            days=days,
            to=to,
            stripe_client=self.stripe,  # type: ignore[arg-type]
            actor_id=self.admin_id or None,
            # The job's accounts are Python-bound (the ORM): a process per core (a thread per core
            # without them; 1,000 x 120: 8 threads 68.4 s of daily job, 2 threads 62.7 s).
            workers=min(self.config.workers, os.cpu_count() or 1),
            processes=self._job_processes,
        )
        return [
            BillingRunOut(
                day=r.day,
                started_at=r.started_at,
                finished_at=r.finished_at,
                counts=r.counts,
                already_run=r.already_run,
            ).model_dump(mode="json")
            for r in move.runs
        ]

    # --- onboarding ---

    def register_and_apply(self, customer: Customer) -> Application:
        from api.applications import service as applications
        from api.auth import repository as users
        from api.auth import service as auth_service

        session = self.session
        user = users.select_user_by_email(session, auth_service.normalise_email(customer.email))
        if user is None:
            user = auth_service.register(
                session,
                email=customer.email,
                password=self.password,
                full_name=customer.full_name,
                password_hash=self.password_hash,
            )
        self.user_ids[customer.index] = user.id
        application = applications.apply(
            session,
            self._principal(customer),
            annual_income=customer.annual_income,
            monthly_housing_payment=customer.monthly_housing_payment,
            employment_status=customer.employment_status,
            date_of_birth=customer.date_of_birth,
            requested_credit_limit=customer.requested_credit_limit,
            bureau=self.bureau,
            vault=self.vault,
            now=self.clock.now(),
        )
        return Application(
            application.id, application.status, tuple(application.reasons), application.account_id
        )

    def review_facts(self, application_id: str) -> tuple[int, int]:
        from api.applications.models import Application as ApplicationRow

        application = self.session.get_one(ApplicationRow, application_id)
        return application.credit_score, application.dti_bps

    def decide(self, application_id: str, decision: str) -> Application:
        from api.applications import service as applications
        from api.auth.security import Principal
        from api.errors import Conflict, UnprocessableEntity

        admin = Principal(user_id=self.admin_id, role="admin", token_id="bulk")
        session = self.session
        try:
            with session.begin_nested():
                decided = applications.decide(
                    session,
                    admin,
                    application_id=application_id,
                    decision=decision,
                    credit_limit=None,
                    vault=self.vault,
                    now=self.clock.now(),
                )
        except (Conflict, UnprocessableEntity):
            decided = applications.decide(
                session,
                admin,
                application_id=application_id,
                decision="declined",
                credit_limit=None,
                vault=self.vault,
                now=self.clock.now(),
            )
        return Application(decided.id, decided.status, tuple(decided.reasons), decided.account_id)

    def account_and_card(self, customer: Customer, account_id: str) -> tuple[int, str]:  # noqa: ARG002
        from api.accounts.models import Account
        from api.cards import service as cards

        account = self.session.get_one(Account, account_id)
        return account.billing_cycle_day, cards.cards_of_account(self.session, account_id)[0].id

    def stripe_client(self) -> Any:
        return self.stripe

    def turn_on_autopay(self, customer: Customer, account_id: str, payment_method: str) -> None:
        from api.accounts.models import Account
        from api.payments import service as payments

        payments.set_autopay(
            self.session,
            account=self.session.get_one(Account, account_id),
            actor_id=self.user_ids[customer.index],
            enabled=True,
            amount="statement_balance",
            payment_method=payment_method,
            now=self.clock.now(),
            client=self.stripe,  # type: ignore[arg-type]
        )

    # --- a customer's day ---

    def set_frozen(self, customer: Customer, card_id: str, *, frozen: bool) -> None:
        from api.cards import service as cards

        cards.set_frozen(self.session, self._principal(customer), card_id=card_id, frozen=frozen)

    def purchases(self, purchases: Sequence[tuple[str, PurchasePlan]]) -> list[tuple[str, str | None]]:
        """The batch's purchases through :func:`authorize_batch`: one round trip for all of them,
        in order, each cleared or reversed right after its authorization."""
        from api.network import service as network

        if not purchases:
            return []
        messages = [
            BatchMessage(
                network.AuthorizationRequest(
                    card_id=card_id,
                    amount=plan.amount,
                    currency=plan.currency,
                    merchant_name=plan.merchant.name,
                    merchant_mcc=plan.merchant.category.mcc,
                    merchant_country=plan.merchant.country,
                ),
                then="reversed" if plan.reverse else "clear",
                clear_amount=plan.cleared,
            )
            for card_id, plan in purchases
        ]
        outcomes = authorize_batch(self.session, messages, now=self.clock.now())
        return [(outcome.authorization_id, outcome.decline_code) for outcome in outcomes]

    def refund(self, card_id: str, authorization_id: str, amount: int) -> int:
        from api.network import service as network

        refund = network.refund(
            self.session,
            card_id=card_id,
            amount=amount,
            currency="USD",
            merchant_name="Refund desk",
            merchant_mcc="5311",
            merchant_country="US",
            authorization_id=authorization_id,
            now=self.clock.now(),
        )
        return refund.amount

    def latest_statement(self, customer: Customer, account_id: str) -> StatementFacts | None:  # noqa: ARG002
        from api.billing import repository as billing
        from api.ledger import service as ledger

        statement = billing.latest_statement(self.session, account_id)
        if statement is None:
            return None
        balances = ledger.balances(self.session, [account_id])[account_id]
        return (
            statement.closing_balance,
            statement.minimum_payment,
            balances.current_balance + balances.pending_amount,
        )

    def create_payment(
        self, customer: Customer, account_id: str, *, amount: int, payment_method: str, day_index: int
    ) -> str:
        from api.accounts.models import Account
        from api.payments import service as payments

        payment = payments.create_payment(
            self.session,
            account=self.session.get_one(Account, account_id),
            payer_id=self.user_ids[customer.index],
            amount=amount,
            payment_method=payment_method,
            idempotency_key=f"sim{self.config.seed}-pay-{customer.index}-{day_index}",
            request_id=None,
            now=self.clock.now(),
            client=self.stripe,  # type: ignore[arg-type]
        )
        return payment.status

    # --- the end ---

    def outcomes(self, accounts: Sequence[tuple[Customer, str]]) -> tuple[int, int, int]:
        from api.billing.models import AccountBilling, Statement
        from api.network.models import Transaction

        account_ids = [account_id for _, account_id in accounts]
        if not account_ids:
            return 0, 0, 0
        with self.sessions() as session:
            statements = session.execute(
                select(func.count()).select_from(Statement).where(Statement.account_id.in_(account_ids))
            ).scalar_one()
            # The simulation makes no disputes, so its only fees are late fees.
            fees = session.execute(
                select(func.count())
                .select_from(Transaction)
                .where(Transaction.account_id.in_(account_ids), Transaction.type == "fee")
            ).scalar_one()
            delinquent = session.execute(
                select(func.count())
                .select_from(AccountBilling)
                .where(AccountBilling.account_id.in_(account_ids), AccountBilling.days_past_due > 0)
            ).scalar_one()
        return int(statements), int(fees), int(delinquent)

    def trial_balance(self) -> dict[str, Any]:
        from api.ledger import service as ledger

        with self.sessions() as session:
            trial = ledger.trial_balance(session)
        return {
            "balanced": trial.balanced,
            "total_debits": trial.total_debits,
            "total_credits": trial.total_credits,
        }

    def billing_facts(self, accounts: Sequence[tuple[Customer, str]]) -> list[AccountFacts]:
        """The same facts as the HTTP mode reads, from the same schemas the API answers with."""
        from api.accounts import service as accounts_service
        from api.accounts.models import Account
        from api.accounts.schemas import AccountOut
        from api.billing.models import Statement
        from api.billing.schemas import StatementOut
        from api.network.models import Transaction
        from api.network.schemas import TransactionOut

        by_account: dict[str, AccountFacts] = {}
        ids = [account_id for _, account_id in accounts]
        # A chunk of accounts a session, three queries a chunk (it was three an account).
        for first in range(0, len(ids), FACTS_CHUNK):
            chunk = ids[first : first + FACTS_CHUNK]
            with self.sessions() as session:
                rows = session.execute(select(Account).where(Account.id.in_(chunk))).scalars().all()
                summaries = accounts_service.account_summaries(session, sorted(rows, key=lambda a: a.id))
                statements: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for statement in session.execute(
                    select(Statement)
                    .where(Statement.account_id.in_(chunk))
                    .order_by(Statement.account_id, Statement.period_end)
                ).scalars():
                    statements[statement.account_id].append(
                        StatementOut.of(statement).model_dump(mode="json")
                    )
                transactions: dict[str, list[dict[str, Any]]] = defaultdict(list)
                for transaction in session.execute(
                    select(Transaction)
                    .where(
                        Transaction.account_id.in_(chunk),
                        Transaction.status == "posted",
                        Transaction.type.in_(("payment", "refund", "reversal", "fee")),
                    )
                    .order_by(Transaction.account_id, Transaction.created_at, Transaction.id)
                ).scalars():
                    transactions[transaction.account_id].append(
                        TransactionOut.of(transaction).model_dump(mode="json")
                    )
                for summary in summaries:
                    by_account[summary.id] = AccountFacts(
                        AccountOut.of(summary).model_dump(mode="json"),  # as GET /v1/accounts/{id} answers
                        statements[summary.id],
                        transactions[summary.id],
                    )
        return [by_account[account_id] for account_id in ids]

    def login(self, customer: Customer) -> tuple[str, str]:
        return customer.email, self.password


# Accounts read together at the end (billing_facts).
FACTS_CHUNK = 500


# --- the batch's purchases: one statement -------------------------------------------------------


@dataclass(frozen=True)
class BatchMessage:
    """One authorization of a batch and what follows it when approved: ``then`` is ``clear``
    (for ``clear_amount``), ``reversed``, or None (the hold stays pending)."""

    request: AuthorizationRequest
    then: str | None = None
    clear_amount: int = 0


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """The answer to one message of a batch (its rows are in the database, not loaded: a bulk
    load reads ids and codes, and building an ORM row per message cost 7 % of its Python)."""

    authorization_id: str
    account_id: str
    decline_code: str | None
    available_credit: int
    # ``ok`` when the clear or reversal that followed went through; None when none did.
    settled: str | None

    @property
    def approved(self) -> bool:
        return self.decline_code is None


_BATCH = text(
    "select account_id, decline_code, available_credit, settled from network_batch("
    " cast(:ids as text[]), cast(:transfer_ids as text[]), cast(:cards as text[]),"
    " cast(:amounts as bigint[]), cast(:currencies as text[]), cast(:names as text[]),"
    " cast(:mccs as text[]), cast(:groups as text[]), cast(:countries as text[]), :now,"
    " cast(:actions as text[]), cast(:settle_amounts as bigint[]), cast(:settle_transfer_ids as text[]),"
    " cast(:currencies_issued as text[]), :max_amount, cast(:tipping as text[]), :tip_bps)"
)


def authorize_batch(
    session: Session, messages: Sequence[BatchMessage], *, now: datetime
) -> list[BatchOutcome]:
    """Many network messages in one round trip (the database function ``network_batch``,
    ``api/network/sql/network_batch.sql``), in order.

    Each authorization runs exactly as ``api.network.service.authorize`` would
    (``network_batch`` calls ``network_authorize`` with the arguments that
    :func:`~api.network.service.authorization_arguments` makes), seeing every earlier message's
    hold and clear; an approved one is then cleared or reversed as its message says, as
    ``clear`` and ``reverse`` would (``network_resolve``). For bulk loads: an unknown card or a
    clear the authorization does not allow raises, and the caller's transaction is lost.
    """
    from api.cards import controls
    from api.errors import Conflict, NotFound
    from api.ledger import service as ledger
    from api.network import service as network

    if not messages:
        return []
    params = [network.authorization_arguments(m.request, now) for m in messages]
    rows = session.execute(
        _BATCH,
        {
            "ids": [p["id"] for p in params],
            "transfer_ids": [p["transfer_id"] for p in params],
            "cards": [p["card_id"] for p in params],
            "amounts": [p["amount"] for p in params],
            "currencies": [p["currency"] for p in params],
            "names": [p["merchant_name"] for p in params],
            "mccs": [p["merchant_mcc"] for p in params],
            "groups": [p["mcc_group"] for p in params],
            "countries": [p["merchant_country"] for p in params],
            "now": now,
            "actions": [m.then for m in messages],
            "settle_amounts": [m.clear_amount for m in messages],
            "settle_transfer_ids": [ledger.new_transfer_id() for _ in messages],
            # The rules each authorization checks are the same for all: the first's.
            "currencies_issued": params[0]["currencies"],
            "max_amount": params[0]["max_amount"],
            "tipping": sorted(controls.TIPPING_MCCS),
            "tip_bps": controls.TIP_TOLERANCE_BPS,
        },
    ).all()
    outcomes: list[BatchOutcome] = []
    for message, param, row in zip(messages, params, rows, strict=True):
        if row[1] == "card_not_found":
            raise NotFound(f"No card {message.request.card_id}.", code="card_not_found")
        if row[3] not in (None, "ok"):
            raise Conflict(f"{param['id']} could not be settled: {row[3]}.", code=str(row[3]))
        outcomes.append(BatchOutcome(param["id"], row[0], row[1], int(row[2]), row[3]))
    return outcomes


# --- connections ---------------------------------------------------------------------------------


def bulk_sessions(database_url: str, *, pool_size: int) -> sessionmaker[Session]:
    """Sessions on an engine of their own, with a bulk loader's setting: a commit does not wait
    for its WAL flush (a crash could lose the last moments' commits, never leave half of one:
    the ledger stays balanced)."""
    from api.db import sessions_for

    sessions = sessions_for(database_url, pool_size=pool_size, max_overflow=4)
    event.listen(sessions.kw["bind"], "connect", _asynchronous_commits)  # before any connection
    return sessions


def _asynchronous_commits(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("set synchronous_commit = off")
    dbapi_connection.commit()
