"""Many authorizations at once on accounts with small limits, through real HTTP.

Afterwards: no account over its limit, the trial balance balanced, and the
approved holds equal to the recorded pending amounts exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.ledger import service as ledger
from api.network.models import Transaction
from tests.conftest import NETWORK_KEY
from tests.factories import open_card_account

THREADS = 16
PER_THREAD = 70  # 1,120 authorizations in all
ACCOUNTS = 6
LIMIT = 150_00


def test_concurrent_authorizations_never_exceed_limits(
    app: FastAPI, live_server: str, session: Session
) -> None:
    cards = {}
    for _ in range(ACCOUNTS):
        _, account_id, card_id = open_card_account(session, app, credit_limit=LIMIT)
        cards[card_id] = account_id

    def fire(seed: int) -> list[tuple[int, bool | None, str | None]]:
        rng = random.Random(seed)
        results = []
        with httpx.Client(base_url=live_server, headers={"X-Network-Key": NETWORK_KEY}, timeout=30) as c:
            for _ in range(PER_THREAD):
                response = c.post(
                    "/v1/network/authorizations",
                    json={
                        "card_id": rng.choice(list(cards)),
                        "amount": rng.randint(1_00, 25_00),
                        "currency": "USD",
                        "merchant": {"name": "Load Shop", "mcc": "5411", "country": "US"},
                    },
                )
                body = response.json()
                results.append((response.status_code, body.get("approved"), body.get("decline_code")))
                if body.get("approved"):
                    # Free or settle some credit, so approvals and declines keep interleaving.
                    roll = rng.random()
                    if roll < 0.4:
                        follow = c.post(f"/v1/network/authorizations/{body['id']}/reverse")
                        assert follow.status_code == 200, follow.text
                    elif roll < 0.5:
                        follow = c.post(
                            f"/v1/network/authorizations/{body['id']}/clear", json={"amount": body["amount"]}
                        )
                        assert follow.status_code == 200, follow.text
        return results

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = [r for batch in pool.map(fire, range(THREADS)) for r in batch]

    statuses = Counter(status for status, _, _ in outcomes)
    approved = sum(1 for _, ok, _ in outcomes if ok)
    declines = Counter(code for _, ok, code in outcomes if ok is False)
    print(f"\ntried {len(outcomes)}, approved {approved}, declined {dict(declines)}")
    assert statuses == {200: THREADS * PER_THREAD}
    assert approved > 0
    assert set(declines) <= {"insufficient_credit"}

    session.expire_all()
    over_limit = 0
    balances = ledger.balances(session, list(cards.values()))
    for account_id in cards.values():
        held = session.execute(
            select(func.coalesce(func.sum(Transaction.amount), 0)).where(
                Transaction.account_id == account_id, Transaction.status == "pending"
            )
        ).scalar_one()
        current = balances[account_id]
        assert current.pending_amount == held
        if current.current_balance + current.pending_amount > LIMIT:
            over_limit += 1
    assert over_limit == 0
    approved_rows = session.execute(
        select(func.count())
        .select_from(Transaction)
        .where(Transaction.status.in_(("pending", "posted", "reversed")))
    ).scalar_one()
    assert approved_rows == approved
    assert ledger.trial_balance(session).balanced
    assert ledger.unbalanced_transfers(session) == []
