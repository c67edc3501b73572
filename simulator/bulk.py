"""``--bulk``: the same simulated world, through the API's service layer in process.

The decisions (who joins, what they buy, when they pay) are the HTTP
simulation's own (``simulator.engine.Simulation``); only the calls differ:
instead of HTTP requests, the service functions the routers call
(``auth.service.register``, ``applications.service.apply/decide``,
``network.service.authorize_batch/refund``, ``cards.service.set_frozen``,
``payments.service.create_payment/set_autopay``,
``api.jobs.daily.advance_clock``), with the arguments the routers pass.
Nothing is written with raw SQL.

Faster because:

- **no HTTP, no tokens**: no request parsing, access log, idempotency rows
  or argon2 login per customer; the customers share one password, hashed
  once and handed to ``register`` ready-made;
- **batches**: a worker runs the day of ``batch_size`` customers in one
  transaction and commits once (the services flush, never commit), and
  sends the batch's purchases in one statement
  (``network.service.authorize_batch``: each authorized as the network's
  message would be, then cleared or reversed, in order), then the refunds
  due (for each account, the HTTP mode's order);
- **workers without lock conflicts**: the ledger's house accounts are split
  in ``HOUSE_SHARDS`` shards chosen by the customer account
  (``api.ledger.service.house``); customers go to worker ``shard % workers``,
  so two workers never write the same house row and batches never wait on
  (or deadlock with) each other;
- **payments** go through the payments service with an in-process Stripe
  stand-in (``simulator.stripe_standin``; why: see there). A customer's
  payments run after the batch holding their purchases has committed,
  because the service commits short transactions of its own that lock the
  same receivable.

Same seed, same start day: the same decisions as the HTTP mode, so the same
ledger totals; ``ground_truth.json`` and ``summary.json`` have the same form.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from simulator.audit import AccountFacts
from simulator.engine import CustomerState, DayTally, PurchasePlan, Simulation, SimulationConfig

BATCH_SIZE = 100
ADMIN_NAME = "Simulated underwriter"


class BulkSimulation(Simulation):
    def __init__(
        self,
        config: SimulationConfig,
        *,
        database_url: str,
        card_data_key: str,
        batch_size: int = BATCH_SIZE,
        on_day: Callable[[int, int], None] | None = None,
    ) -> None:
        if config.customers < 1 or config.days < 1:
            raise ValueError("customers and days must be at least 1")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        from api.applications.bureau import SandboxBureau
        from api.auth.security import hash_password
        from api.cards.numbers import CardVault
        from api.clock import Clock
        from simulator.stripe_standin import InProcessStripe

        self.config = config
        self.on_day = on_day
        self.ground_truth: dict[str, Any] = {}
        self.states: list[CustomerState] = []
        self.sample_login: tuple[str, str] | None = None
        self.batch_size = batch_size
        self.database_url = database_url
        self.sessions: sessionmaker[Session] = _bulk_sessions(database_url, pool_size=config.workers + 2)
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

    # --- plumbing --------------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The calling worker's open batch transaction."""
        current: Session = self._local.session
        return current

    @contextmanager
    def _batch(self) -> Iterator[Session]:
        with self.sessions() as session:
            self._local.session = session
            try:
                yield session
                session.commit()
            finally:
                self._local.session = None

    def _stripe_client(self) -> Any:
        return self.stripe

    @property
    def pays_through_stripe(self) -> bool:
        return True

    def _principal(self, state: CustomerState) -> Any:
        from api.auth.security import Principal

        return Principal(user_id=self.user_ids[state.profile.index], role="customer", token_id="bulk")

    # --- the run -----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        self._job_processes = self._start_job_processes()
        try:
            now = self.clock.now()
            start = self.config.start or now.date()
            if start < now.date():
                raise ValueError(
                    f"--start {start} is before the sandbox clock ({now.date()}); it only moves forward"
                )
            return self._run(start, now)
        finally:
            if self._job_processes is not None:
                self._job_processes.shutdown()
            self.engine.dispose()

    def _start_job_processes(self) -> ProcessPoolExecutor | None:
        """Processes for the daily job's accounts, one per core (``api.jobs.daily.run_day``): its
        steps are Python-bound, and the job's threads shared one interpreter lock (Python ran
        ~85 % of one core in a two-thread job). Each has an engine of its own
        (``_bulk_sessions``). They come from a fork server, not from this process, which has
        threads and connections by then; as with any spawned process, the program's
        ``__main__`` is imported in them, so a script that runs a simulation must do so under
        ``if __name__ == "__main__"`` (the ``cardportal`` command does)."""
        from api.jobs import daily as daily_job

        cores = min(self.config.workers, os.cpu_count() or 1)
        if cores < 2:
            return None
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["api.jobs.daily", "simulator.bulk"])
        return ProcessPoolExecutor(
            cores,
            mp_context=context,
            initializer=daily_job.init_worker,
            initargs=(partial(_bulk_sessions, self.database_url, pool_size=1),),
        )

    def _run(self, start: date, now: datetime) -> dict[str, Any]:
        from api.auth import service as auth_service

        config = self.config
        if start > now.date():
            self._move_clock(to=datetime.combine(start, time(0), UTC))
        with self._batch() as session:
            # The platform's first admin decides, as in the HTTP mode; without one, an underwriter
            # whose password nobody knows.
            self.admin_id = auth_service.ensure_user(
                session,
                email=config.admin_email or f"sim{config.seed}.underwriter@example.com",
                password=secrets.token_urlsafe(24),
                full_name=ADMIN_NAME,
                role="admin",
            )[0].id
        self.states = self._population(start)
        with ThreadPoolExecutor(config.workers) as pool:
            for day_index in range(config.days):
                today = start + timedelta(days=day_index)
                tally = DayTally()
                joining = [s for s in self.states if s.profile.joins_on_day == day_index]
                self._onboard_all(pool, joining, tally)
                groups: dict[int, list[CustomerState]] = defaultdict(list)
                for state in self.states:
                    if state.card_id is not None:
                        groups[self._worker_of(state)].append(state)
                day = partial(self._group_day, day_index=day_index, today=today, tally=tally)
                list(pool.map(day, groups.values()))
                billing = self._move_clock(days=1)
                self.ground_truth[today.isoformat()] = {**tally.as_dict(), "billing": billing}
                if self.on_day:
                    self.on_day(day_index + 1, config.days)
        summary = self._summary(start)
        self._write(summary)
        opened = next((s.profile for s in self.states if s.account_id), None)
        self.sample_login = (opened.email, self.password) if opened else None
        return summary

    def _worker_of(self, state: CustomerState) -> int:
        from api.ledger import service as ledger

        assert state.account_id is not None
        return ledger.house_shard(state.account_id) % self.config.workers

    def _move_clock(self, *, days: int | None = None, to: datetime | None = None) -> list[dict[str, Any]]:
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

    def _onboard_all(self, pool: ThreadPoolExecutor, joining: list[CustomerState], tally: DayTally) -> None:
        """Register and apply in batches (no house account is touched: any split will do), then the
        underwriter's decisions, then autopay (its Stripe customer is made in a transaction of its
        own, which must see the committed user)."""
        batches = [joining[i : i + self.batch_size] for i in range(0, len(joining), self.batch_size)]

        def onboard(batch: Sequence[CustomerState]) -> None:
            with self._batch():
                for state in batch:
                    self._onboard(state, tally)

        list(pool.map(onboard, batches))
        with self._batch():
            self._decide_reviews(joining, tally)
        with self._batch():
            for state in joining:
                if state.account_id is not None and state.profile.autopay:
                    self._turn_on_autopay(state)

    def _group_day(self, group: list[CustomerState], day_index: int, today: date, tally: DayTally) -> None:
        for first in range(0, len(group), self.batch_size):
            batch = group[first : first + self.batch_size]
            self._local.payments = []
            self._local.purchases = []
            self._local.refunds = []
            with self._batch():
                for state in batch:
                    self._customer_day(state, day_index=day_index, today=today, tally=tally)
                self._settle_purchases()
                for refunds in self._local.refunds:
                    refunds()
            payments: list[Callable[[], None]] = self._local.payments
            if payments:
                with self._batch():
                    for pay in payments:
                        pay()

    # --- the calls, in process --------------------------------------------------------------------

    def _open(self, state: CustomerState, account_id: str) -> None:
        # Autopay is turned on after the onboarding batch commits: see _onboard_all.
        state.account_id = account_id
        state.cycle_day, state.card_id = self._account_and_card(state, account_id)

    def _register_and_apply(self, state: CustomerState) -> dict[str, Any]:
        from api.applications import service as applications
        from api.auth import repository as users
        from api.auth import service as auth_service

        profile = state.profile
        session = self.session
        user = users.select_user_by_email(session, auth_service.normalise_email(profile.email))
        if user is None:
            user = auth_service.register(
                session,
                email=profile.email,
                password=self.password,
                full_name=profile.full_name,
                password_hash=self.password_hash,
            )
        self.user_ids[profile.index] = user.id
        application = applications.apply(
            session,
            self._principal(state),
            annual_income=profile.annual_income,
            monthly_housing_payment=profile.monthly_housing_payment,
            employment_status=profile.employment_status,
            date_of_birth=profile.date_of_birth,
            requested_credit_limit=profile.requested_credit_limit,
            bureau=self.bureau,
            vault=self.vault,
            now=self.clock.now(),
        )
        return {
            "id": application.id,
            "status": application.status,
            "reasons": list(application.reasons),
            "account_id": application.account_id,
        }

    def _review_facts(self, application_id: str) -> tuple[int, int]:
        from api.applications.models import Application

        application = self.session.get_one(Application, application_id)
        return application.credit_score, application.dti_bps

    def _decide(self, application_id: str, decision: str) -> dict[str, Any]:
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
        return {"status": decided.status, "account_id": decided.account_id}

    def _account_and_card(self, state: CustomerState, account_id: str) -> tuple[int, str]:  # noqa: ARG002
        from api.accounts.models import Account
        from api.cards import service as cards

        account = self.session.get_one(Account, account_id)
        return account.billing_cycle_day, cards.cards_of_account(self.session, account_id)[0].id

    def _turn_on_autopay(self, state: CustomerState) -> None:
        from api.accounts.models import Account
        from api.payments import service as payments

        payments.set_autopay(
            self.session,
            account=self.session.get_one(Account, state.account_id),
            actor_id=self.user_ids[state.profile.index],
            enabled=True,
            amount="statement_balance",
            payment_method=self._payment_method(state),
            now=self.clock.now(),
            client=self.stripe,  # type: ignore[arg-type]
        )

    def _set_frozen(self, state: CustomerState, *, frozen: bool) -> None:
        from api.cards import service as cards

        assert state.card_id is not None
        cards.set_frozen(self.session, self._principal(state), card_id=state.card_id, frozen=frozen)

    def _purchase(self, state: CustomerState, day_index: int, plan: PurchasePlan, tally: DayTally) -> None:
        # Sent with the rest of the batch's purchases in one statement: see _settle_purchases.
        self._local.purchases.append((state, day_index, plan, tally))

    def _refunds_due(self, state: CustomerState, refunds: list[tuple[str, int]], tally: DayTally) -> None:
        # After the batch's purchases, as in the HTTP mode after the customer's own.
        if refunds:
            self._local.refunds.append(partial(Simulation._refunds_due, self, state, refunds, tally))

    def _settle_purchases(self) -> None:
        """The batch's purchases through ``network.authorize_batch``: one round trip for all of
        them, in order, each cleared or reversed right after its authorization."""
        from api.network import service as network

        queued: list[tuple[CustomerState, int, PurchasePlan, DayTally]] = self._local.purchases
        if not queued:
            return
        messages = []
        for state, _, plan, _ in queued:
            assert state.card_id is not None
            request = network.AuthorizationRequest(
                card_id=state.card_id,
                amount=plan.amount,
                currency=plan.currency,
                merchant_name=plan.merchant.name,
                merchant_mcc=plan.merchant.category.mcc,
                merchant_country=plan.merchant.country,
            )
            then = "reversed" if plan.reverse else "clear"
            messages.append(network.BatchMessage(request, then=then, clear_amount=plan.cleared))
        outcomes = network.authorize_batch(self.session, messages, now=self.clock.now())
        for (state, day_index, plan, tally), outcome in zip(queued, outcomes, strict=True):
            self._record_purchase(
                state, day_index, plan, outcome.authorization_id, outcome.decline_code, tally
            )

    def _refund(self, state: CustomerState, authorization_id: str, amount: int) -> int:
        from api.network import service as network

        assert state.card_id is not None
        refund = network.refund(
            self.session,
            card_id=state.card_id,
            amount=amount,
            currency="USD",
            merchant_name="Refund desk",
            merchant_mcc="5311",
            merchant_country="US",
            authorization_id=authorization_id,
            now=self.clock.now(),
        )
        return refund.amount

    def _pay(self, state: CustomerState, kind: str, day_index: int, tally: DayTally) -> None:
        # After the batch's commit (see the module's docstring), in the worker's next transaction.
        self._local.payments.append(partial(Simulation._pay, self, state, kind, day_index, tally))

    def _latest_statement(self, state: CustomerState) -> tuple[int, int, int] | None:
        from api.billing import repository as billing
        from api.ledger import service as ledger

        assert state.account_id is not None
        statement = billing.latest_statement(self.session, state.account_id)
        if statement is None:
            return None
        balances = ledger.balances(self.session, [state.account_id])[state.account_id]
        return (
            statement.closing_balance,
            statement.minimum_payment,
            balances.current_balance + balances.pending_amount,
        )

    def _create_payment(self, state: CustomerState, amount: int, day_index: int) -> str:
        from api.accounts.models import Account
        from api.payments import service as payments

        payment = payments.create_payment(
            self.session,
            account=self.session.get_one(Account, state.account_id),
            payer_id=self.user_ids[state.profile.index],
            amount=amount,
            payment_method=self._payment_method(state),
            idempotency_key=f"sim{self.config.seed}-pay-{state.profile.index}-{day_index}",
            request_id=None,
            now=self.clock.now(),
            client=self.stripe,  # type: ignore[arg-type]
        )
        return payment.status

    # --- the end --------------------------------------------------------------------------------

    def _billing_facts(self) -> list[AccountFacts]:
        """The same facts as the HTTP mode reads, from the same schemas the API answers with."""
        from api.accounts import service as accounts
        from api.accounts.models import Account
        from api.billing.models import Statement
        from api.billing.schemas import StatementOut
        from api.network.models import Transaction
        from api.network.schemas import TransactionOut

        facts = []
        with self.sessions() as session:
            for state in self.states:
                if state.account_id is None:
                    continue
                [account] = accounts.describe(session, [session.get_one(Account, state.account_id)])
                statements = session.execute(
                    select(Statement)
                    .where(Statement.account_id == state.account_id)
                    .order_by(Statement.period_end)
                ).scalars()
                transactions = session.execute(
                    select(Transaction).where(
                        Transaction.account_id == state.account_id,
                        Transaction.status == "posted",
                        Transaction.type.in_(("payment", "refund", "reversal", "fee")),
                    )
                ).scalars()
                facts.append(
                    AccountFacts(
                        account.model_dump(mode="json"),
                        [StatementOut.of(s).model_dump(mode="json") for s in statements],
                        [TransactionOut.of(t).model_dump(mode="json") for t in transactions],
                    )
                )
        return facts

    def _outcomes(self) -> tuple[int, int, int]:
        from api.billing.models import AccountBilling, Statement
        from api.network.models import Transaction

        accounts = [s.account_id for s in self.states if s.account_id is not None]
        if not accounts:
            return 0, 0, 0
        with self.sessions() as session:
            statements = session.execute(
                select(func.count()).select_from(Statement).where(Statement.account_id.in_(accounts))
            ).scalar_one()
            # The simulation makes no disputes, so its only fees are late fees.
            fees = session.execute(
                select(func.count())
                .select_from(Transaction)
                .where(Transaction.account_id.in_(accounts), Transaction.type == "fee")
            ).scalar_one()
            delinquent = session.execute(
                select(func.count())
                .select_from(AccountBilling)
                .where(AccountBilling.account_id.in_(accounts), AccountBilling.days_past_due > 0)
            ).scalar_one()
        return int(statements), int(fees), int(delinquent)

    def _trial_balance(self) -> dict[str, Any]:
        from api.ledger import service as ledger

        with self.sessions() as session:
            trial = ledger.trial_balance(session)
        return {
            "balanced": trial.balanced,
            "total_debits": trial.total_debits,
            "total_credits": trial.total_credits,
        }


def _bulk_sessions(database_url: str, *, pool_size: int) -> sessionmaker[Session]:
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
