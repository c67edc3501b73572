"""A small world driven through the real API over three business days, and one pipeline run over it.

The world is built once per run on the worker of the ``pipeline`` xdist
group; its ground truth (what the test sent the network) is kept beside it.

It starts today (real time: the gateway dates its request logs and the database its audit
rows by the wall clock, so the world's first day must be the real one for the pipelines to find
them in the world's partitions; the sandbox clock cannot go back to a fixed date either). So
every expectation about its weeks and months is derived from its own dates
(``World.activity_periods``), and ``tests/pipelines/test_world_calendar.py`` checks that calendar
for a world started on each weekday and across month and year ends.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cardportal.database import libpq_conninfo
from tests.conftest import NETWORK_KEY
from tests.factories import customer

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "dbt"
NET = {"X-Network-Key": NETWORK_KEY}
SALT = "test-pii-salt"
CARD_DAYS = 3


def period_start(grain: str, day: date) -> date:
    """The period holding ``day``: itself, its ISO week's Monday or its month's first day (date_trunc)."""
    if grain == "weekly":
        return day - timedelta(days=day.weekday())
    if grain == "monthly":
        return day.replace(day=1)
    return day


def billing_calendar(first: date) -> tuple[date, date, date]:
    """``bill_world``'s days for a world starting on ``first``: the first statements' close, the
    second's, and the world's last day (the day after the second close, when the daily job stops).

    The cycle day is three days after the world opened, moved past the 28th to the 1st.
    """
    close = first + timedelta(days=3)
    while close.day > 28:
        close += timedelta(days=1)
    second_close = (close.replace(day=1) + timedelta(days=32)).replace(day=close.day)
    return close, second_close, second_close + timedelta(days=1)


def ensure_dbt_manifest() -> Path:
    """``dbt parse`` (once, under a file lock) when the manifest is missing or older than the project."""
    manifest = DBT_DIR / "target" / "manifest.json"
    sources = [
        p for p in DBT_DIR.rglob("*") if p.suffix in {".sql", ".yml", ".csv"} and "target" not in p.parts
    ]
    (DBT_DIR / "target").mkdir(exist_ok=True)
    with open(DBT_DIR / "target" / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = max(p.stat().st_mtime for p in sources)
        if not manifest.exists() or manifest.stat().st_mtime < newest:
            dbt = Path(sys.executable).parent / "dbt"
            subprocess.run(
                [str(dbt), "parse", "--quiet", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)],
                check=True,
                cwd=DBT_DIR,
            )
    return manifest


@dataclass
class World:
    days: list[date]
    # Ground truth per posted day: purchase volume and count, refund volume.
    purchases: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    purchase_counts: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    refunds: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    authorizations: int = 0
    declined: int = 0
    applications: int = 0
    approved: int = 0
    customers: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    # Billing and payments after the three card days: the last day the daily job ran, the
    # payments as the API answered them (id -> account, amount, status, initiated_by), the
    # dispute, and what the API says each account was charged and owes.
    last_day: date | None = None
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    returned: dict[str, int] = field(default_factory=dict)
    fees: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    interest: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    days_past_due: dict[str, int] = field(default_factory=dict)
    past_due_cents: int = 0
    # The daily job's delinquency record (delinquency_days): (account, day, days past due,
    # past-due amount, bucket) of each delinquent account-day, sorted.
    delinquency_days: list[tuple[str, date, int, int, str]] = field(default_factory=list)
    statements: int = 0

    @property
    def all_days(self) -> list[date]:
        last = self.last_day or self.days[-1]
        return [self.days[0] + timedelta(days=n) for n in range((last - self.days[0]).days + 1)]

    def activity_periods(self, grain: str) -> list[date]:
        """The periods with card activity, oldest first: the weeks or months the pages offer, the
        last one shown first, and the ones whose report files the pipelines write."""
        return sorted({period_start(grain, day) for day in self.days})

    @classmethod
    def planned(cls, first: date) -> World:
        """The calendar of a world started on ``first`` (dates only): what ``build_world`` lives."""
        return cls(
            days=[first + timedelta(days=n) for n in range(CARD_DAYS)], last_day=billing_calendar(first)[2]
        )


MERCHANTS = [
    {"name": "Corner Cafe", "mcc": "5812", "country": "US"},
    {"name": "Fresh Market", "mcc": "5411", "country": "US"},
    {"name": "Metro Fuel", "mcc": "5542", "country": "US"},
    {"name": "Book Nook", "mcc": "5942", "country": "GB"},
]


def _apply(api: TestClient, headers: dict[str, str], *, limit: int) -> dict[str, Any]:
    r = api.post(
        "/v1/applications",
        headers=headers,
        json={
            "annual_income": 90_000_00,
            "monthly_housing_payment": 1_200_00,
            "employment_status": "employed",
            "date_of_birth": "1990-06-15",
            "requested_credit_limit": limit,
        },
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def _authorize(api: TestClient, card: str, amount: int, merchant: dict[str, str]) -> dict[str, Any]:
    r = api.post(
        "/v1/network/authorizations",
        headers=NET,
        json={"card_id": card, "amount": amount, "currency": "USD", "merchant": merchant},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def build_world(api: TestClient, app: FastAPI, engine: Engine | None = None) -> World:
    """Three days: applications, authorizations (some declined), clears across days, a reversal, refunds.

    With ``engine`` (and the Stripe emulator), about a month of billing follows: see ``bill_world``.
    """
    clock = app.state.clock
    first = clock.today()
    world = World(days=[])
    cards: list[str] = []
    holders: list[dict[str, str]] = []
    for n in range(3):
        user = customer(api, email=f"world{n}-{os.getpid()}+score790@example.com")
        application = _apply(api, user.headers, limit=2_000_00)
        assert application["status"] == "approved"
        world.applications += 1
        world.approved += 1
        account = application["account_id"]
        world.accounts.append(account)
        world.customers.append(user.user_id)
        holders.append(user.headers)
        listed = api.get(f"/v1/accounts/{account}/cards", headers=user.headers).json()["data"]
        cards.append(listed[0]["id"])
    declined_user = customer(api, email=f"world-declined-{os.getpid()}+score500@example.com")
    assert _apply(api, declined_user.headers, limit=1_000_00)["status"] == "declined"
    world.applications += 1
    world.customers.append(declined_user.user_id)

    open_holds: list[tuple[str, int, dict[str, str]]] = []
    for index in range(CARD_DAYS):
        today = clock.now().date()
        world.days.append(today)
        # Clear yesterday's holds today (a purchase held one day and posted the next), one for more.
        for auth_id, amount, merchant in open_holds:
            cleared = amount + (150 if merchant["mcc"] == "5812" else 0)  # a tip at the cafe
            r = api.post(f"/v1/network/authorizations/{auth_id}/clear", headers=NET, json={"amount": cleared})
            assert r.status_code == 200, r.text
            world.purchases[today] += cleared
            world.purchase_counts[today] += 1
        open_holds = []
        for card_number, card in enumerate(cards):
            for k, merchant in enumerate(MERCHANTS):
                amount = 1_000 + 137 * (index + 1) * (card_number + 1) + 11 * k
                auth = _authorize(api, card, amount, merchant)
                world.authorizations += 1
                assert auth["approved"], auth
                if k == 0 and index < 2:
                    open_holds.append((auth["id"], amount, merchant))
                elif k == 1 and card_number == 0:
                    r = api.post(f"/v1/network/authorizations/{auth['id']}/reverse", headers=NET)
                    assert r.status_code == 200, r.text
                elif k == 0:
                    pass  # left pending on the last day
                else:
                    r = api.post(
                        f"/v1/network/authorizations/{auth['id']}/clear", headers=NET, json={"amount": amount}
                    )
                    assert r.status_code == 200, r.text
                    world.purchases[today] += amount
                    world.purchase_counts[today] += 1
                    if k == 3 and card_number == 1:
                        r = api.post(
                            "/v1/network/refunds",
                            headers=NET,
                            json={
                                "card_id": card,
                                "amount": 500,
                                "merchant": merchant,
                                "authorization_id": auth["id"],
                            },
                        )
                        assert r.status_code == 200, r.text
                        world.refunds[today] += 500
            # Over the limit: declined with insufficient_credit.
            declined = _authorize(api, card, 5_000_00, MERCHANTS[1])
            assert not declined["approved"]
            assert declined["decline_code"] == "insufficient_credit"
            world.authorizations += 1
            world.declined += 1
        clock.advance(timedelta(days=1))
    if engine is not None:
        bill_world(api, app, engine, world, holders)
        assert world.last_day == World.planned(first).last_day  # the calendar the tests derive
    return world


def _payment_method(app: FastAPI, number: str) -> str:
    method = app.state.stripe.v1.payment_methods.create(
        params={"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    )
    return str(method.id)


def _advance_to(app: FastAPI, engine: Engine, day: date) -> None:
    """The sandbox clock to the start of ``day``: the daily job runs every day before it."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import sessionmaker

    from api.jobs import daily as daily_job

    daily_job.advance_clock(
        sessionmaker(engine, expire_on_commit=False),
        app.state.clock,
        to=datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9),
        stripe_client=app.state.stripe,
    )


def bill_world(
    api: TestClient, app: FastAPI, engine: Engine, world: World, holders: list[dict[str, str]]
) -> None:
    """Statements, payments of every kind, a dispute, a late fee, interest and a delinquent account.

    The accounts' cycle day is moved to three days after they opened (a month's wait saved), then:
    account 0 pays the statement balance by autopay, account 1 pays exactly the minimum (disputed
    after the due date: returned, with a returned-payment fee), account 2's card is declined and it
    pays $10, below the minimum, so it is charged a late fee and is past due. The daily job runs
    every day up to the day after the second statements closed.
    """
    from sqlalchemy.orm import Session

    from api.payments import service as payments

    close, _second_close, last_day = billing_calendar(world.days[0])
    with engine.begin() as conn:
        conn.execute(
            text("update accounts set billing_cycle_day = :day where id = any(:ids)"),
            {"day": close.day, "ids": world.accounts},
        )
    _advance_to(app, engine, close + timedelta(days=1))

    def pay(n: int, amount: int, number: str = "4242424242424242") -> None:
        r = api.post(
            f"/v1/accounts/{world.accounts[n]}/payments",
            headers={**holders[n], "Idempotency-Key": f"world-pay-{n}-{amount}-{number[-4:]}"},
            json={"amount": amount, "payment_method": _payment_method(app, number)},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        world.payments[body["id"]] = {
            "account": world.accounts[n],
            "amount": amount,
            "status": body["status"],
            "initiated_by": "customer",
        }

    statements = [
        api.get(f"/v1/accounts/{account}/statements", headers=holders[n]).json()["data"]
        for n, account in enumerate(world.accounts)
    ]
    assert all(len(s) == 1 for s in statements), statements
    due = date.fromisoformat(statements[0][0]["due_date"])
    r = api.put(
        f"/v1/accounts/{world.accounts[0]}/autopay",
        headers=holders[0],
        json={
            "enabled": True,
            "amount": "statement_balance",
            "payment_method": _payment_method(app, "4242424242424242"),
        },
    )
    assert r.status_code == 200, r.text
    pay(1, statements[1][0]["minimum_payment"])
    pay(2, 1_000, "4000000000000341")
    pay(2, 1_000)
    assert [p["status"] for p in world.payments.values()] == ["succeeded", "failed", "succeeded"]

    # Past the due date: autopay paid two days before it, the late fee is charged on it.
    _advance_to(app, engine, due + timedelta(days=2))
    minimum_paid = next(k for k, p in world.payments.items() if p["account"] == world.accounts[1])
    with Session(engine) as session:
        returned = payments.post_return(
            session,
            payment_id=minimum_paid,
            kind="dispute",
            stripe_object_id=f"dp_world_{os.getpid()}",
            amount=statements[1][0]["minimum_payment"],
            now=app.state.clock.now(),
        )
        session.commit()
    assert returned == statements[1][0]["minimum_payment"]
    world.returned[minimum_paid] = returned

    # The second statements close (interest on the revolving balances); one day more.
    _advance_to(app, engine, last_day + timedelta(days=1))
    world.last_day = last_day

    for n, account in enumerate(world.accounts):
        listed = api.get(f"/v1/accounts/{account}/payments?limit=100", headers=holders[n]).json()["data"]
        for payment in listed:
            if payment["id"] not in world.payments:
                world.payments[payment["id"]] = {
                    "account": account,
                    "amount": payment["amount"],
                    "status": payment["status"],
                    "initiated_by": payment.get("initiated_by", "autopay"),
                }
        for kind, into in (("fee", world.fees), ("interest", world.interest)):
            charged = api.get(
                f"/v1/accounts/{account}/transactions?type={kind}&limit=100", headers=holders[n]
            ).json()["data"]
            for t in charged:
                into[date.fromisoformat(t["posted_at"][:10])] += t["amount"]
        world.statements += len(
            api.get(f"/v1/accounts/{account}/statements", headers=holders[n]).json()["data"]
        )
        world.days_past_due[account] = api.get(f"/v1/accounts/{account}", headers=holders[n]).json()[
            "days_past_due"
        ]
    with engine.connect() as conn:
        world.past_due_cents = conn.execute(
            text(
                "select coalesce(sum(past_due_amount), 0) from account_billing where account_id = any(:ids)"
            ),
            {"ids": world.accounts},
        ).scalar_one()
        world.delinquency_days = sorted(
            (r[0], r[1], r[2], r[3], r[4])
            for r in conn.execute(
                text(
                    "select account_id, day, days_past_due, past_due_amount, bucket from delinquency_days "
                    "where account_id = any(:ids)"
                ),
                {"ids": world.accounts},
            )
        )


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    return ensure_dbt_manifest()


@dataclass
class Pipeline:
    world: World
    home: Path
    warehouse_url: str
    operational_url: str
    resources: dict[str, Any]
    result: Any
    snapshots: dict[str, Any] = field(default_factory=dict)

    def warehouse(self) -> psycopg.Connection[tuple[Any, ...]]:
        return psycopg.connect(self.warehouse_url)


def platform_resources(operational_url: str, warehouse_url: str, home: Path) -> dict[str, Any]:
    from dagster_dbt import DbtCliResource

    from pipelines.assets_dbt import dbt_project
    from pipelines.definitions import dbt_executable
    from pipelines.resources import PlatformResource

    return {
        "platform": PlatformResource(
            operational_url=operational_url, warehouse_url=warehouse_url, home=str(home), pii_hash_salt=SALT
        ),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    }


def range_tags(first: date, last: date) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }


def dbt_cli(warehouse_url: str, *args: str, target: Path, logs: Path) -> subprocess.CompletedProcess[str]:
    """The dbt CLI on ``warehouse_url``, its artifacts in ``target`` and its logs in ``logs``:
    never the shared dbt/target/, whose manifest every code location loads and the other xdist
    worker may be reading or writing meanwhile."""
    from pipelines.assets_dbt import DBT_DIR, dbt_environment
    from pipelines.definitions import dbt_executable

    return subprocess.run(
        [
            dbt_executable(),
            *args,
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(DBT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(logs),
        ],
        env={**os.environ, **dbt_environment(warehouse_url)},
        cwd=DBT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


def daily_selection() -> list[Any]:
    from pipelines.assets_dbt import cardportal_dbt_assets
    from pipelines.assets_extract import api_requests, extract_assets
    from pipelines.assets_publish import published_marts
    from pipelines.assets_reports import daily_activity_report
    from pipelines.checks import great_expectations_marts

    return [
        *extract_assets,
        api_requests,
        cardportal_dbt_assets,
        great_expectations_marts,
        published_marts,
        daily_activity_report,
    ]


def raw_fingerprint(conn: psycopg.Connection[Any], schema: str = "raw") -> dict[str, tuple[int, str]]:
    """Per table of ``schema`` (raw unless named): row count and an order-independent digest of its rows."""
    tables = [
        r[0]
        for r in conn.execute("select tablename from pg_tables where schemaname = %s order by 1", (schema,))
    ]
    out = {}
    for table in tables:
        row = conn.execute(
            f"select count(*), coalesce(md5(string_agg(md5(t::text), '' order by md5(t::text))), '') "  # type: ignore[arg-type]
            f"from {schema}.{table} t"
        ).fetchone()
        assert row is not None
        out[table] = (int(row[0]), str(row[1]))
    return out


@pytest.fixture(scope="module")
def pipeline(
    app: FastAPI,
    engine: Engine,
    database_url: str,
    warehouse_url: str,
    dbt_manifest: Path,
    stripe_emulator: Any,
) -> Iterator[Pipeline]:
    from dagster import DagsterInstance, materialize

    # A world of its own: its app's clock moves three days ahead, and tokens of the shared
    # app (whose clock the other tests rely on) must stay valid.
    from api.main import create_app

    world_app = create_app(app.state.settings, database_url=database_url, warehouse_url=warehouse_url)
    started = time.perf_counter()
    with TestClient(world_app) as world_client:
        world = build_world(world_client, world_app, engine)
    world_seconds = time.perf_counter() - started
    # The app's own home: the API serves the report files from its reports folder, and the
    # gateway's request logs are there. Malformed lines are planted in the second day's file,
    # a future real date the gateway does not write to.
    home = Path(app.state.settings.home)
    first, last = world.days[0], world.all_days[-1]
    log_dir = home / "logs" / "api"
    log_dir.mkdir(parents=True, exist_ok=True)
    planted_file = log_dir / f"{world.days[1].isoformat()}.jsonl"
    # Written once per home: the dashboards' module builds the same world again on a worker
    # that may have built it already, and the file must hold the planted lines only once.
    with planted_file.open("w") as handle:
        handle.write("this is not json\n")
        handle.write('{"ts": "2026-01-01T00:00:00Z", "method": "GET"\n')
        handle.write(
            '{"ts": "2026-01-01T00:00:01Z", "request_id": "r1", "method": "GET", "status": "200", '
            '"duration_ms": 1.5}\n'
        )
        handle.write(
            '{"ts": "2026-01-01T00:00:02Z", "request_id": "r2", "method": "GET", "route": "/healthz", '
            '"status": 200, "duration_ms": 1.5, "user_id": null}\n'
        )
    resources = platform_resources(database_url, warehouse_url, home)
    # The warehouse is the worker's, shared by every module that builds this world; the
    # snapshot keeps history across runs by design, so a new world starts a new history.
    with psycopg.connect(libpq_conninfo(warehouse_url), autocommit=True) as conn:
        conn.execute("drop schema if exists snapshots cascade")
        # The big facts are incremental: a new world must not keep the last world's rows in
        # the staged facts (its days' keys are not extracted again), so they start afresh.
        conn.execute("drop schema if exists marts_staging cascade")
        conn.execute("drop schema if exists intermediate cascade")
    started = time.perf_counter()
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            daily_selection(), resources=resources, tags=range_tags(first, last), instance=instance
        )
        # The snapshot is its own asset on its own cadence (not a step of the days): once, after.
        from pipelines.assets_dbt import cardportal_dbt_snapshots

        snapshot = materialize([cardportal_dbt_snapshots], resources=resources, instance=instance)
    state = Pipeline(world, home, warehouse_url, database_url, resources, result)
    state.snapshots["snapshot_run"] = snapshot.success
    state.snapshots["seconds"] = {
        "world": round(world_seconds, 1),
        "pipeline": round(time.perf_counter() - started, 1),
    }
    print(f"\ntest world: {state.snapshots['seconds']}, {len(world.all_days)} days")
    # Re-run two days' extracts and the first day's report: nothing may change.
    from pipelines.assets_extract import api_requests, extract_assets
    from pipelines.assets_reports import daily_activity_report

    with state.warehouse() as conn:
        state.snapshots["raw_before"] = raw_fingerprint(conn)
        state.snapshots["files_before"] = dict(
            conn.execute("select id, sha256 from reporting.report_files").fetchall()
        )
    with DagsterInstance.ephemeral() as instance:
        # A card day, and the day the second statements closed (statements, interest, billing run).
        state.snapshots["rerun"] = all(
            materialize(
                [*extract_assets, api_requests],
                resources=resources,
                partition_key=day.isoformat(),
                instance=instance,
            ).success
            for day in (world.days[1], world.all_days[-2])
        )
        state.snapshots["rerun_report"] = materialize(
            [daily_activity_report], resources=resources, partition_key=first.isoformat(), instance=instance
        ).success
    with state.warehouse() as conn:
        state.snapshots["raw_after"] = raw_fingerprint(conn)
        state.snapshots["files_after"] = dict(
            conn.execute("select id, sha256 from reporting.report_files").fetchall()
        )
    yield state
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text(
                    "select tablename from pg_tables "
                    "where schemaname = 'public' and tablename <> 'alembic_version'"
                )
            )
        ]
        conn.execute(text("truncate " + ", ".join(f'"{t}"' for t in tables) + " cascade"))


@contextmanager
def persistent_dagster_home(
    server_url: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, suffix: str
) -> Iterator[str]:
    """``DagsterInstance.get()`` as `cardportal up`'s daemon has it: dagster.yaml in
    ``tmp_path/dagster`` on a fresh PostgreSQL database of its own (``<test database>_<suffix>``,
    whose URL is yielded), dropped afterwards."""
    from psycopg import sql

    from cardportal.database import database_on_same_server, parse_url
    from cardportal.warehouse import dagster_environment, write_dagster_yaml

    name = f"{parse_url(database_url).database}_{suffix}"
    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    drop = sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        dagster_home = tmp_path / "dagster"
        storage = database_on_same_server(server_url, name)
        write_dagster_yaml(dagster_home, storage)
        for key, value in dagster_environment(dagster_home, storage).items():
            monkeypatch.setenv(key, value)
        yield storage
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(drop)
