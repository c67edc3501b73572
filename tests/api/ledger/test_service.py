"""The ledger's named invariants (api/ledger/service.py), each checked directly,
plus amount validation and the admin trial balance over HTTP."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from api.ids import new_id
from api.ledger import service as ledger
from api.ledger.models import LedgerAccount, LedgerEntry, LedgerTransfer
from tests.factories import customer, open_card_account, user_with_role

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LIMIT = 1_000_00


@pytest.fixture
def account_id(session: Session, app: FastAPI) -> str:
    return open_card_account(session, app, credit_limit=LIMIT)[1]


def hold(session: Session, account_id: str, amount: int) -> ledger.Hold:
    return ledger.hold(
        session, account_id=account_id, amount=amount, credit_limit=LIMIT, currency="USD", now=NOW
    )


def busy_ledger(session: Session, account_id: str) -> None:
    """One of every kind of transfer."""
    posted = hold(session, account_id, 300_00)
    ledger.post_pending(session, pending_id=posted.transfer_id, amount=250_00, kind="purchase", now=NOW)
    tipped = hold(session, account_id, 100_00)
    ledger.post_pending(session, pending_id=tipped.transfer_id, amount=120_00, kind="purchase", now=NOW)
    voided = hold(session, account_id, 50_00)
    ledger.void_pending(session, pending_id=voided.transfer_id, kind="reversal", now=NOW)
    hold(session, account_id, 40_00)  # left pending
    ledger.charge(
        session,
        account_id=account_id,
        amount=7_00,
        kind="interest",
        against=ledger.House.INTEREST_INCOME,
        currency="USD",
        now=NOW,
    )
    ledger.credit(
        session,
        account_id=account_id,
        amount=30_00,
        kind="refund",
        against=ledger.House.NETWORK_SETTLEMENT,
        currency="USD",
        now=NOW,
    )
    session.flush()


def test_every_transfer_sums_to_zero_in_each_layer(session: Session, account_id: str) -> None:
    busy_ledger(session, account_id)
    rows = session.execute(
        select(LedgerEntry.transfer_id, LedgerEntry.layer, func.sum(LedgerEntry.amount)).group_by(
            LedgerEntry.transfer_id, LedgerEntry.layer
        )
    ).all()
    assert len({row[0] for row in rows}) == 9  # four holds, two posts, a void, a charge, a credit
    assert all(row[2] == 0 for row in rows)
    assert ledger.unbalanced_transfers(session) == []


def test_the_whole_ledger_sums_to_zero(session: Session, account_id: str) -> None:
    busy_ledger(session, account_id)
    by_layer = dict(
        session.execute(
            select(LedgerEntry.layer, func.sum(LedgerEntry.amount)).group_by(LedgerEntry.layer)
        ).all()
    )
    assert by_layer == {"pending": 0, "posted": 0}
    totals = session.execute(
        select(func.sum(LedgerAccount.posted_balance), func.sum(LedgerAccount.pending_balance))
    ).one()
    assert tuple(totals) == (0, 0)
    tb = ledger.trial_balance(session)
    assert tb.balanced
    assert tb.total_debits == tb.total_credits == 250_00 + 120_00 + 7_00 + 30_00
    assert tb.pending_total == 0
    assert tb.entries_total == 0


def test_balances_equal_the_sums_of_entries(session: Session, account_id: str) -> None:
    busy_ledger(session, account_id)
    sums = {
        row[0]: (row[1], row[2])
        for row in session.execute(
            select(
                LedgerEntry.ledger_account_id,
                func.coalesce(func.sum(LedgerEntry.amount).filter(LedgerEntry.layer == "posted"), 0),
                func.coalesce(func.sum(LedgerEntry.amount).filter(LedgerEntry.layer == "pending"), 0),
            ).group_by(LedgerEntry.ledger_account_id)
        )
    }
    accounts = session.execute(select(LedgerAccount)).scalars().all()
    assert len(accounts) >= 3  # the receivable and two house accounts
    for account in accounts:
        assert sums.get(account.id, (0, 0)) == (account.posted_balance, account.pending_balance), account.id
        assert account.posted_debits - account.posted_credits == account.posted_balance
    assert ledger.balances(session, [account_id])[account_id] == ledger.Balances(
        current_balance=250_00 + 120_00 + 7_00 - 30_00, pending_amount=40_00
    )
    # A tampered kept balance is caught by the trial balance.
    session.execute(
        text("update ledger_accounts set posted_balance = posted_balance + 1 where id = :id"),
        {"id": ledger.receivable(account_id)},
    )
    session.expire_all()
    assert not ledger.trial_balance(session).balanced


def test_a_pending_transfer_resolves_at_most_once(session: Session, account_id: str) -> None:
    posted = hold(session, account_id, 100_00)
    ledger.post_pending(session, pending_id=posted.transfer_id, amount=100_00, kind="purchase", now=NOW)
    with pytest.raises(ledger.PendingAlreadyResolved) as error:
        ledger.post_pending(session, pending_id=posted.transfer_id, amount=100_00, kind="purchase", now=NOW)
    assert error.value.state == "posted"
    with pytest.raises(ledger.PendingAlreadyResolved):
        ledger.void_pending(session, pending_id=posted.transfer_id, kind="reversal", now=NOW)

    voided = hold(session, account_id, 50_00)
    ledger.void_pending(session, pending_id=voided.transfer_id, kind="reversal", now=NOW)
    with pytest.raises(ledger.PendingAlreadyResolved) as error:
        ledger.post_pending(session, pending_id=voided.transfer_id, amount=50_00, kind="purchase", now=NOW)
    assert error.value.state == "voided"
    with pytest.raises(ledger.PendingNotFound):
        ledger.post_pending(session, pending_id="tr_nope", amount=1, kind="purchase", now=NOW)
    with pytest.raises(ledger.PendingNotFound):
        ledger.void_pending(session, pending_id="tr_nope", kind="reversal", now=NOW)
    assert ledger.balances(session, [account_id])[account_id] == ledger.Balances(100_00, 0)


def test_the_database_refuses_a_second_resolution(session: Session, account_id: str) -> None:
    """Even with the application's state check bypassed, a unique index stops a double post."""
    held = hold(session, account_id, 100_00)
    ledger.post_pending(session, pending_id=held.transfer_id, amount=100_00, kind="purchase", now=NOW)
    session.commit()
    first = session.execute(
        select(LedgerTransfer).where(LedgerTransfer.pending_id == held.transfer_id)
    ).scalar_one()
    session.add(
        LedgerTransfer(
            id=new_id("tr"),
            kind="purchase",
            state="posted",
            debit_account_id=first.debit_account_id,
            credit_account_id=first.credit_account_id,
            amount=100_00,
            currency="USD",
            pending_id=held.transfer_id,
            created_at=NOW,
        )
    )
    with pytest.raises(IntegrityError, match="uq_ledger_transfers_pending_id"):
        session.flush()
    session.rollback()
    assert ledger.balances(session, [account_id])[account_id] == ledger.Balances(100_00, 0)


def test_concurrent_posts_of_one_hold_post_it_once(
    session: Session, session_factory: sessionmaker[Session], account_id: str
) -> None:
    pending_id = hold(session, account_id, 100_00).transfer_id
    session.commit()
    start = threading.Barrier(8)

    def post(_: int) -> str:
        start.wait()
        with session_factory() as worker, worker.begin():
            try:
                ledger.post_pending(worker, pending_id=pending_id, amount=100_00, kind="purchase", now=NOW)
            except ledger.PendingAlreadyResolved:
                return "refused"
        return "posted"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(post, range(8)))
    assert outcomes == ["posted"] + ["refused"] * 7
    session.expire_all()
    assert ledger.balances(session, [account_id])[account_id] == ledger.Balances(100_00, 0)
    assert ledger.trial_balance(session).balanced


def test_a_hold_never_passes_the_limit(session: Session, account_id: str) -> None:
    hold(session, account_id, 600_00)
    with pytest.raises(ledger.LimitExceeded) as error:
        hold(session, account_id, 400_01)
    assert error.value.available == 400_00
    transfers = session.execute(select(func.count()).select_from(LedgerTransfer)).scalar_one()
    assert transfers == 1  # the refused hold wrote nothing
    last = hold(session, account_id, 400_00)  # exactly up to the limit
    assert last.available_after == 0
    with pytest.raises(ledger.LimitExceeded):
        hold(session, account_id, 1)
    # Posted debt counts against the limit too.
    ledger.void_pending(session, pending_id=last.transfer_id, kind="reversal", now=NOW)
    ledger.charge(
        session,
        account_id=account_id,
        amount=300_00,
        kind="fee",
        against=ledger.House.FEE_INCOME,
        currency="USD",
        now=NOW,
    )
    with pytest.raises(ledger.LimitExceeded) as error:
        hold(session, account_id, 100_01)
    assert error.value.available == 100_00


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, "100", None, ledger.MAX_AMOUNT + 1])
def test_invalid_amounts_are_refused(session: Session, account_id: str, amount: object) -> None:
    with pytest.raises(ledger.InvalidAmount):
        hold(session, account_id, amount)  # type: ignore[arg-type]
    for move in (ledger.charge, ledger.credit):
        with pytest.raises(ledger.InvalidAmount):
            move(
                session,
                account_id=account_id,
                amount=amount,  # type: ignore[arg-type]
                kind="fee",
                against=ledger.House.FEE_INCOME,
                currency="USD",
                now=NOW,
            )
    pending_id = hold(session, account_id, 10_00).transfer_id
    if amount != 0:  # a clear of nothing is allowed: it releases the whole hold
        with pytest.raises(ledger.InvalidAmount):
            ledger.post_pending(session, pending_id=pending_id, amount=amount, kind="purchase", now=NOW)  # type: ignore[arg-type]
    assert ledger.balances(session, [account_id])[account_id] == ledger.Balances(0, 10_00)
    assert session.execute(select(func.count()).select_from(LedgerTransfer)).scalar_one() == 1


def test_a_transfer_in_another_currency_writes_nothing(session: Session, account_id: str) -> None:
    with pytest.raises(ledger.LedgerError, match="currency"):
        ledger.hold(session, account_id=account_id, amount=1_00, credit_limit=LIMIT, currency="EUR", now=NOW)
    assert session.execute(select(func.count()).select_from(LedgerTransfer)).scalar_one() == 0
    assert ledger.balances(session, [account_id])[account_id] == ledger.Balances(0, 0)


def test_trial_balance_endpoint(api: TestClient, session: Session, account_id: str) -> None:
    busy_ledger(session, account_id)
    session.commit()
    assert api.get("/v1/admin/ledger/trial-balance").status_code == 401
    for role in ("customer", "analyst", "finance"):
        caller = customer(api) if role == "customer" else user_with_role(api, session, role)
        r = api.get("/v1/admin/ledger/trial-balance", headers=caller.headers)
        assert r.status_code == 403, role
        assert r.json()["code"] == "insufficient_role"
    admin = user_with_role(api, session, "admin")
    r = api.get("/v1/admin/ledger/trial-balance", headers=admin.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["balanced"] is True
    assert body["total_debits"] == body["total_credits"] == 407_00
    assert sum(a["posted_debits"] for a in body["accounts"]) == body["total_debits"]
    assert sum(a["posted_credits"] for a in body["accounts"]) == body["total_credits"]
    receivable = next(a for a in body["accounts"] if a["id"] == ledger.receivable(account_id))
    assert (receivable["posted_balance"], receivable["pending_balance"]) == (347_00, 40_00)


def test_the_house_shard_is_the_same_in_python_and_in_the_database(session: Session) -> None:
    """Holds choose their house shard in SQL (``ledger_house``), everything else in Python."""
    source = (Path(ledger.__file__).parent / "sql" / "ledger_house.sql").read_text()
    assert f", {ledger.HOUSE_SHARDS})::text" in source
    accounts = [new_id("acct") for _ in range(200)] + ["acct_é", "x"]
    in_sql = session.execute(
        text("select ledger_house('network_settlement', a) from unnest(cast(:a as text[])) a"),
        {"a": accounts},
    ).scalars()
    assert list(in_sql) == [ledger.house(ledger.House.NETWORK_SETTLEMENT, a) for a in accounts]
    assert len({ledger.house(ledger.House.FEE_INCOME, a) for a in accounts}) == ledger.HOUSE_SHARDS


def test_a_ledger_call_sees_what_the_session_holds_and_fails_as_sqlalchemy_does(
    session: Session, account_id: str
) -> None:
    """The ledger's functions run on the session's driver connection (issue 24), and still behave
    as a session's execute: pending ORM objects are flushed first, and a database error is
    SQLAlchemy's own, with the values it was given hidden."""
    # A receivable added to the session, not flushed: the hold must find it (autoflush).
    unflushed = new_id("acct")
    session.add(LedgerAccount(id=ledger.receivable(unflushed), currency="USD"))
    assert hold(session, unflushed, 5_00).available_after == LIMIT - 5_00
    session.commit()

    # A transfer id used twice: the primary key refuses it, as an IntegrityError naming no value.
    first = hold(session, account_id, 10_00)
    session.commit()
    with pytest.raises(IntegrityError) as error:
        ledger.hold(
            session,
            account_id=account_id,
            amount=20_00,
            credit_limit=LIMIT,
            currency="USD",
            now=NOW,
            transfer_id=first.transfer_id,
        )
    assert "hidden due to hide_parameters" in str(error.value)
    assert "2000" not in str(error.value)
    session.rollback()
    assert ledger.balances(session, [account_id])[account_id] == ledger.Balances(0, 10_00)
