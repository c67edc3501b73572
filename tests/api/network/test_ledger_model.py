"""A stateful property test: random sequences of authorize, clear, reverse, refund,
freeze, unfreeze and hold expiry against the real services and PostgreSQL,
checked after every step against a plain Python model of the balances."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy.orm import Session, sessionmaker

from api.cards.models import Card
from api.clock import Clock
from api.errors import AppError
from api.ledger import service as ledger
from api.network import service as network
from api.network.models import Transaction
from tests.factories import open_card_account

LIMIT = 300_00


@dataclass
class AuthModel:
    account: str
    card: str
    mcc: str
    held: int
    state: str = "pending"  # pending, posted, reversed, declined
    cleared: int = 0
    refunded: int = 0


@dataclass
class AccountModel:
    limit: int
    posted: int = 0
    pending: int = 0
    frozen: bool = False
    auths: list[str] = field(default_factory=list)


def make_machine(app: FastAPI, factory: sessionmaker[Session]) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        auths = Bundle("auths")

        def __init__(self) -> None:
            super().__init__()
            self.clock = Clock(movable=True)
            self.accounts: dict[str, AccountModel] = {}
            self.cards: dict[str, str] = {}  # card -> account
            self.model_auths: dict[str, AuthModel] = {}

        @initialize()
        def open_accounts(self) -> None:
            for _ in range(2):
                with factory() as session:
                    _, account_id, card_id = open_card_account(session, app, credit_limit=LIMIT)
                self.accounts[account_id] = AccountModel(limit=LIMIT)
                self.cards[card_id] = account_id

        @rule(
            target=auths,
            card_index=st.integers(0, 1),
            amount=st.integers(1, 200_00),
            mcc=st.sampled_from(["5411", "5812"]),
        )
        def authorize(self, card_index: int, amount: int, mcc: str) -> str:
            card_id = sorted(self.cards)[card_index]
            account = self.accounts[self.cards[card_id]]
            with factory() as session, session.begin():
                result = network.authorize(
                    session,
                    card_id=card_id,
                    amount=amount,
                    currency="USD",
                    merchant_name="M",
                    merchant_mcc=mcc,
                    merchant_country="US",
                    now=self.clock.now(),
                )
            available = account.limit - account.posted - account.pending
            if account.frozen:
                expected = "card_frozen"
            elif amount > available:
                expected = "insufficient_credit"
            else:
                expected = None
            assert result.decline_code == expected
            auth = AuthModel(self.cards[card_id], card_id, mcc, amount)
            if expected is None:
                account.pending += amount
            else:
                auth.state = "declined"
            self.model_auths[result.transaction.id] = auth
            return result.transaction.id

        @rule(auth_id=auths, percent=st.integers(50, 125))
        def clear(self, auth_id: str, percent: int) -> None:
            auth = self.model_auths[auth_id]
            amount = max(1, auth.held * percent // 100)
            tipping = auth.mcc == "5812"
            ceiling = auth.held + auth.held * 2_000 // 10_000 if tipping else auth.held
            try:
                with factory() as session, session.begin():
                    network.clear(session, authorization_id=auth_id, amount=amount, now=self.clock.now())
            except AppError as error:
                if auth.state != "pending":
                    assert error.status == 409
                else:
                    assert amount > ceiling and error.code == "clear_exceeds_authorization"
                return
            assert auth.state == "pending" and amount <= ceiling
            account = self.accounts[auth.account]
            account.pending -= auth.held
            account.posted += amount
            auth.state, auth.cleared = "posted", amount

        @rule(auth_id=auths)
        def reverse(self, auth_id: str) -> None:
            auth = self.model_auths[auth_id]
            try:
                with factory() as session, session.begin():
                    network.reverse(session, authorization_id=auth_id, now=self.clock.now())
            except AppError as error:
                assert auth.state != "pending" and error.status == 409
                return
            assert auth.state == "pending"
            self.accounts[auth.account].pending -= auth.held
            auth.state = "reversed"

        @rule(auth_id=auths, amount=st.integers(1, 150_00))
        def refund(self, auth_id: str, amount: int) -> None:
            auth = self.model_auths[auth_id]
            try:
                with factory() as session, session.begin():
                    network.refund(
                        session,
                        card_id=auth.card,
                        amount=amount,
                        currency="USD",
                        merchant_name="M",
                        merchant_mcc=auth.mcc,
                        merchant_country="US",
                        authorization_id=auth_id,
                        now=self.clock.now(),
                    )
            except AppError as error:
                assert auth.state != "posted" or auth.refunded + amount > auth.cleared, error.code
                return
            assert auth.state == "posted" and auth.refunded + amount <= auth.cleared
            auth.refunded += amount
            self.accounts[auth.account].posted -= amount

        @rule(card_index=st.integers(0, 1), frozen=st.booleans())
        def freeze(self, card_index: int, frozen: bool) -> None:
            card_id = sorted(self.cards)[card_index]
            with factory() as session, session.begin():
                session.get(Card, card_id).status = "frozen" if frozen else "active"  # type: ignore[union-attr]
            self.accounts[self.cards[card_id]].frozen = frozen

        @rule(days=st.integers(1, 8))
        def time_passes(self, days: int) -> None:
            self.clock.advance(timedelta(days=days))
            with factory() as session, session.begin():
                network.expire_holds(session, now=self.clock.now())
            # Exactly the holds older than their lifetime were released.
            with factory() as session:
                for auth_id, auth in self.model_auths.items():
                    if auth.state != "pending":
                        continue
                    txn = session.get(Transaction, auth_id)
                    assert txn is not None
                    if txn.status == "reversed":
                        assert txn.closed_reason == "expired"
                        assert self.clock.now() - txn.created_at >= network.HOLD_LIFETIME
                        self.accounts[auth.account].pending -= auth.held
                        auth.state = "reversed"
                    else:
                        assert self.clock.now() - txn.created_at < network.HOLD_LIFETIME

        @invariant()
        def balances_match_the_model(self) -> None:
            if not self.accounts:
                return
            with factory() as session:
                actual = ledger.balances(session, list(self.accounts))
            for account_id, model in self.accounts.items():
                assert actual[account_id] == ledger.Balances(model.posted, model.pending)

        @invariant()
        def ledger_balances(self) -> None:
            with factory() as session:
                assert ledger.unbalanced_transfers(session) == []
                assert ledger.trial_balance(session).balanced

    return LedgerMachine


@pytest.mark.slow
def test_ledger_against_a_model(app: FastAPI, session_factory: sessionmaker[Session]) -> None:
    machine = make_machine(app, session_factory)
    machine.TestCase.settings = settings(
        max_examples=15,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    machine.TestCase().runTest()
