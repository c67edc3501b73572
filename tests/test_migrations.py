"""Migrations: up, down and up again on a fresh database, and models that match the schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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


def _functions(url: str) -> dict[str, str]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        rows = conn.execute(
            "select p.proname, p.prosrc from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = 'public'"
        ).fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def test_a_function_migration_downgrades_to_the_definitions_before_it(fresh_database: str) -> None:
    """0015 replaces two functions and adds one (api/migrations/replaceable.py): its downgrade
    leaves the functions exactly as 0014 had them, and upgrading again gives head's."""
    migrate.upgrade(fresh_database, "0014")
    before = _functions(fresh_database)
    migrate.upgrade(fresh_database)
    head = _functions(fresh_database)
    assert set(head) - set(before) == {"account_available_credit"}
    migrate.downgrade(fresh_database, "0014")
    assert _functions(fresh_database) == before
    migrate.upgrade(fresh_database)
    assert _functions(fresh_database) == head
