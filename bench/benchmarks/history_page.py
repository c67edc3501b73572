"""``history_page``: ``GET /v1/accounts/{id}/transactions`` rps ÷ ``/healthz`` rps (goal ≥ 0.3).

The account is one of 1,000 among 1,000,000 transactions (200,000 in QUICK
mode, said in the result's notes); it holds every 200th row. Both endpoints
are driven on the same API process, same concurrency, alternating.
"""

from __future__ import annotations

import psycopg

from bench import product
from bench.env import BenchEnv
from bench.harness import Result, median, paired
from bench.load import Connection, HttpError, call, run_load
from bench.seed import PASSWORD, account_id, seed_accounts, seed_transactions, user_email
from cardportal.database import libpq_conninfo

NAME = "history_page"
ACCOUNTS = 1_000
EVERY = 200


def run(env: BenchEnv) -> Result:
    rows = 200_000 if env.quick else 1_000_000
    url = env.fresh_database("bench_history")
    seed_accounts(url, first=1, last=ACCOUNTS)
    seed_transactions(url, rows=rows, accounts=ACCOUNTS, target=1, every=EVERY)
    target = account_id(1)
    workers = int(env.shared.get("workers", 2))  # type: ignore[call-overload]
    with product.api_server(env, url, workers=workers, name="history") as server:

        async def get_token(conn: Connection) -> str:
            return await product.login(conn, user_email(1), PASSWORD)

        token = call(server.host, server.port, get_token)
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/v1/accounts/{target}/transactions?limit=50"

        async def page(conn: Connection, _: int) -> None:
            status, payload = await conn.request("GET", path, headers=headers)
            if status != 200 or b'"next_cursor":"' not in payload:
                raise HttpError(f"history: {status} {payload[:300]!r}")

        def measure(scenario: object) -> float:
            return run_load(
                server.host,
                server.port,
                scenario,  # type: ignore[arg-type]
                concurrency=product.CONCURRENCY,
                seconds=env.seconds,
            ).rate

        ours_runs, base_runs = paired(
            lambda: measure(page), lambda: measure(product.healthz), repetitions=env.repetitions
        )
    with psycopg.connect(libpq_conninfo(url)) as conn:
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "explain (analyze, buffers) select * from transactions where account_id = %s "
                "order by created_at desc, id desc limit 51",
                (target,),
            )
        )
    return Result(
        name=NAME,
        ours=median(ours_runs),
        baseline=median(base_runs),
        unit="rps",
        baseline_name="/healthz rps",
        goal=0.3,
        ours_runs=ours_runs,
        baseline_runs=base_runs,
        notes=f"{rows:,} transactions{' (QUICK: fewer than 1M)' if env.quick else ''}, "
        f"{rows // EVERY:,} on the account, first page of 50, {workers} worker(s)",
        extra={"plan": plan},
    )
