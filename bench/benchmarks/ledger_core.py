"""``ledger_core``: transfers/s of ``api.ledger.service`` called directly ÷ the raw ledger tx (goal ≥ 0.7).

Four threads (as the raw baseline), 100 customer receivables; each thread
repeats a hold and its posting (``post_pending``) through a SQLAlchemy session
as the API uses them, both in one transaction per repetition (issue 24's
lever: a commit waits for the write-ahead log's flush, 57 % of a thread's time
with a commit per transfer); each committed transfer counts. The figure with a
commit per transfer (the hold, then the posting, as an authorization and its
clearing are committed through the API) is measured in the same run and kept in
``extra`` (``commit_per_transfer``).
"""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime

from api.db import make_engine, make_sessionmaker, session_scope
from api.ledger import service as ledger
from bench.baselines import RAW_THREADS, prepare_raw_ledger, raw_ledger
from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.seed import CREDIT_LIMIT, account_id

NAME = "ledger_core"
ACCOUNTS = 100


def transfers(url: str, *, seconds: float, commit_per_transfer: bool = False) -> float:
    engine = make_engine(url, pool_size=RAW_THREADS, max_overflow=0)
    factory = make_sessionmaker(engine)
    stop = time.perf_counter() + seconds
    counts = [0] * RAW_THREADS

    def worker(index: int) -> None:
        rng = random.Random(index)
        while time.perf_counter() < stop:
            account, amount = account_id(rng.randint(1, ACCOUNTS)), rng.randint(100, 10_000)
            now = datetime.now(UTC)
            with session_scope(factory) as session:
                held = ledger.hold(
                    session,
                    account_id=account,
                    amount=amount,
                    credit_limit=CREDIT_LIMIT,
                    currency="USD",
                    now=now,
                )
                if commit_per_transfer:
                    session.commit()
                ledger.post_pending(
                    session, pending_id=held.transfer_id, amount=amount, kind="purchase", now=now
                )
            counts[index] += 2

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(RAW_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    return sum(counts) / seconds


def run(env: BenchEnv) -> Result:
    url = env.fresh_database("bench_ledger_core")
    prepare_raw_ledger(url)
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        for i in range(1, ACCOUNTS + 1):
            ledger.open_customer_account(session, account_id=account_id(i), currency="USD")
    engine.dispose()
    per_transfer: list[float] = []

    def baseline() -> float:
        per_transfer.append(transfers(url, seconds=env.seconds, commit_per_transfer=True))
        return raw_ledger(url, seconds=env.seconds)[0]

    ours_runs, base_runs = paired(
        lambda: transfers(url, seconds=env.seconds), baseline, repetitions=env.repetitions
    )
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="transfers/s",
        baseline_name="raw ledger tx/s",
        goal=0.7,
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{RAW_THREADS} threads, {ACCOUNTS} accounts, hold and post_pending in one transaction; "
        f"a commit per transfer: {median(per_transfer):,.0f} transfers/s "
        f"= {median(per_transfer) / median(base_runs):.2f}",
        extra={"commit_per_transfer": per_transfer},
    )
