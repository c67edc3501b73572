"""Migrations: up, down and up again on a fresh database, and models that match the schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg import sql
from sqlalchemy import create_engine, inspect, pool

from api.models import Base
from cardportal import migrate
from cardportal.database import database_on_same_server, libpq_conninfo, with_driver


@pytest.fixture
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = libpq_conninfo(database_on_same_server(server_url, "postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    yield database_on_same_server(server_url, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _tables(url: str) -> set[str]:
    engine = create_engine(with_driver(url, "psycopg"), poolclass=pool.NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(fresh_database: str) -> None:
    assert "(no revision" in migrate.current(fresh_database)
    migrate.upgrade(fresh_database)
    assert _tables(fresh_database) >= set(Base.metadata.tables)
    assert "(head)" in migrate.current(fresh_database)

    migrate.downgrade(fresh_database, "base")
    assert _tables(fresh_database) <= {"alembic_version"}
    assert "(no revision" in migrate.current(fresh_database)

    migrate.upgrade(fresh_database)
    assert _tables(fresh_database) >= set(Base.metadata.tables)
    migrate.upgrade(fresh_database)  # a second upgrade is a no-op


def test_models_match_the_migrated_schema(fresh_database: str) -> None:
    migrate.upgrade(fresh_database)
    engine = create_engine(with_driver(fresh_database, "psycopg"), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def _functions(url: str) -> dict[str, tuple[str, list[str] | None]]:
    """Each function's body and the settings its calls set (``proconfig``)."""
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute(
            "select p.proname, p.prosrc, p.proconfig from pg_proc p"
            " join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'"
        ).fetchall()
    return {str(row[0]): (str(row[1]), row[2]) for row in rows}


def test_a_function_migration_downgrades_to_the_definitions_before_it(fresh_database: str) -> None:
    """0015 replaces two functions and adds one (api/migrations/replaceable.py): its downgrade
    leaves the functions exactly as 0014 had them, and upgrading again gives head's."""
    migrate.upgrade(fresh_database, "0014")
    before = _functions(fresh_database)
    migrate.upgrade(fresh_database, "0015")
    after = _functions(fresh_database)
    assert set(after) - set(before) == {"account_available_credit"}
    migrate.downgrade(fresh_database, "0014")
    assert _functions(fresh_database) == before
    migrate.upgrade(fresh_database, "0015")
    assert _functions(fresh_database) == after


def test_0017_adds_the_network_statements_and_its_downgrade_drops_them(fresh_database: str) -> None:
    """0017 adds four functions and changes none (api/migrations/replaceable.py)."""
    migrate.upgrade(fresh_database, "0016")
    before = _functions(fresh_database)
    migrate.upgrade(fresh_database, "0017")
    after = _functions(fresh_database)
    assert set(after) - set(before) == {
        "json_timestamp",
        "idempotency_save",
        "network_authorize_once",
        "network_resolve_once",
    }
    assert {name: after[name] for name in before} == before
    migrate.downgrade(fresh_database, "0016")
    assert _functions(fresh_database) == before


def test_0020_adds_the_batched_network_statements_and_its_downgrade_drops_them(fresh_database: str) -> None:
    """0020 adds three functions and changes none (api/migrations/replaceable.py)."""
    migrate.upgrade(fresh_database, "0019")
    before = _functions(fresh_database)
    migrate.upgrade(fresh_database, "0020")
    after = _functions(fresh_database)
    assert set(after) - set(before) == {
        "ledger_lock_customers",
        "network_authorize_many",
        "network_resolve_many",
    }
    assert {name: after[name] for name in before} == before
    migrate.downgrade(fresh_database, "0019")
    assert _functions(fresh_database) == before


def test_0021_sets_key_lookups_on_the_hot_functions_and_its_downgrade_unsets_them(
    fresh_database: str,
) -> None:
    """0021 changes four functions' settings, no body (api/migrations/replaceable.py)."""
    hot = {
        "network_authorize_once",
        "network_resolve_once",
        "network_authorize_many",
        "network_resolve_many",
    }
    migrate.upgrade(fresh_database, "0020")
    before = _functions(fresh_database)
    migrate.upgrade(fresh_database, "0021")
    after = _functions(fresh_database)
    assert set(after) == set(before)
    assert {name for name in after if after[name] != before[name]} == hot
    for name in hot:
        assert before[name][1] is None
        assert after[name] == (before[name][0], ["enable_seqscan=off"])
    migrate.downgrade(fresh_database, "0020")
    assert _functions(fresh_database) == before


def test_0016_fills_in_the_last_runs_day_from_each_accounts_delinquency(fresh_database: str) -> None:
    """A deployment upgraded to 0016 has the daily job's record of the last finished run's day
    (each delinquent account's state as of it, from ``account_billing``), that run marked
    recorded, the earlier runs not; runs from then on are recorded by default."""
    migrate.upgrade(fresh_database, "0015")
    with psycopg.connect(libpq_conninfo(fresh_database)) as conn:
        conn.execute(
            "insert into users (id, email, full_name, password_hash, role, is_active)"
            " values ('usr_1', 'a@example.com', 'A', 'x', 'customer', true)"
        )
        for n in range(4):
            conn.execute(
                "insert into accounts (id, user_id, status, credit_limit, apr_bps, currency,"
                " billing_cycle_day) values (%s, 'usr_1', 'active', 100000, 2499, 'USD', 5)",
                (f"acct_{n}",),
            )
        conn.execute(
            "insert into account_billing (account_id, as_of, days_past_due, delinquency_bucket,"
            " past_due_amount, charged_off_on) values"
            " ('acct_0', '2027-03-02', 0, 'current', 0, null),"  # current: no row
            " ('acct_1', '2027-03-02', 31, '30-59', 2500, null),"
            " ('acct_2', '2027-02-20', 180, '90+', 9000, '2027-02-20'),"  # charged off earlier
            " ('acct_3', '2027-01-10', 0, 'current', 0, null)"
        )
        conn.execute(
            "insert into billing_runs (id, day, started_at, finished_at) values"
            " ('brun_1', '2027-03-01', now(), now()), ('brun_2', '2027-03-02', now(), now()),"
            " ('brun_3', '2027-03-03', now(), null)"
        )
    migrate.upgrade(fresh_database)
    with psycopg.connect(libpq_conninfo(fresh_database)) as conn:
        rows = conn.execute("select * from delinquency_days order by account_id").fetchall()
        runs = conn.execute(
            "select day::text, delinquency_recorded from billing_runs order by day"
        ).fetchall()
        conn.execute("insert into billing_runs (id, day, started_at) values ('brun_4', '2027-03-04', now())")
        new_run = conn.execute("select delinquency_recorded from billing_runs where id = 'brun_4'").fetchone()
    assert rows == [
        ("acct_1", date(2027, 3, 2), 31, 2500, "30-59"),
        ("acct_2", date(2027, 2, 20), 180, 9000, "90+"),
    ]
    assert runs == [("2027-03-01", False), ("2027-03-02", True), ("2027-03-03", False)]
    assert new_run == (True,)
    migrate.downgrade(fresh_database, "0015")
    assert "delinquency_days" not in _tables(fresh_database)
