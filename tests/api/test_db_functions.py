"""The database's functions are the files in the domains' ``sql/`` folders, and the rules they
share with Python agree (api/migrations/replaceable.py says how a function changes)."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.ledger import service as ledger
from api.money import MAX_AMOUNT

API = Path(__file__).resolve().parents[2] / "api"
# Every domain's sql/ folder; api/migrations/sql holds the migrations' frozen copies, not sources.
FILES = sorted(p for p in API.glob("*/sql/*.sql") if p.parent.parent.name != "migrations")
# Written inline by its migration (0005), the audit log's trigger: not one of the domains' files.
INLINE = {"audit_events_append_only"}

_NAME = re.compile(r"^create or replace function (\w+)\(", re.MULTILINE)

_DEFINITIONS = text(
    """
    select p.proname, pg_get_functiondef(p.oid)
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = :schema and p.prokind = 'f'
       and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
    """
)


def _name(path: Path) -> str:
    names = _NAME.findall(path.read_text(encoding="utf-8"))
    assert len(names) == 1, f"{path}: one 'create or replace function' a file, named like the file"
    assert names[0] == path.stem, f"{path}: the file is named after its function ({names[0]})"
    return str(names[0])


def _definitions(engine: Engine, schema: str, statements: list[str] | None = None) -> dict[str, str]:
    """``pg_get_functiondef`` of each function in ``schema``; with ``statements``, of those
    statements' functions created in a scratch ``schema`` (rolled back)."""
    with engine.connect() as conn:
        if statements is not None:
            conn.execute(text(f"create schema {schema}"))
            conn.execute(text(f"set local search_path = {schema}, public"))
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            for statement in statements:
                # As the migrations send them: no parameters (the bodies hold ':' and '%').
                cursor.execute(statement)
        rows = conn.execute(_DEFINITIONS, {"schema": schema}).all()
        conn.rollback()
    return {row[0]: row[1].replace(f"{schema}.", "public.", 1) for row in rows}


def test_each_function_file_defines_one_function_named_like_it() -> None:
    assert {_name(p) for p in FILES} >= {
        "account_available_credit",
        "idempotency_begin",
        "idempotency_save",
        "json_timestamp",
        "ledger_hold",
        "ledger_house",
        "ledger_resolve_pending",
        "ledger_write_transfer",
        "network_authorize",
        "network_authorize_once",
        "network_batch",
        "network_resolve",
        "network_resolve_once",
    }


def test_the_migrated_database_defines_each_function_as_its_file_does(engine: Engine) -> None:
    """A file edited without a migration, or a migration without its file, is red here."""
    migrated = _definitions(engine, "public")
    files = _definitions(engine, "function_files", [p.read_text(encoding="utf-8") for p in FILES])
    for path in FILES:
        name = _name(path)
        where = path.relative_to(API.parent)
        assert name in migrated, (
            f"{where} defines {name}, which no migration creates: add a migration that applies it "
            "(api/migrations/replaceable.py says how)."
        )
        if migrated[name] != files[name]:
            diff = "\n".join(
                difflib.unified_diff(
                    migrated[name].splitlines(), files[name].splitlines(), "migrated", str(where), lineterm=""
                )
            )
            pytest.fail(
                f"The migrated database's {name} differs from {where}. A function changes by a new "
                "migration that applies a frozen copy of its file (api/migrations/replaceable.py says "
                f"how); never by editing the file alone, nor an old migration's copy.\n{diff}"
            )
    assert set(migrated) - {_name(p) for p in FILES} == INLINE, (
        "a function in the database has no file in its domain's sql/ folder"
    )


# Balances a card account may have: owing or in credit (negative posted), holds (pending >= 0).
_ACCOUNTS = st.tuples(
    st.integers(0, MAX_AMOUNT), st.integers(-MAX_AMOUNT, MAX_AMOUNT), st.integers(0, MAX_AMOUNT)
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(accounts=st.lists(_ACCOUNTS, min_size=1, max_size=60))
def test_available_credit_is_the_same_in_python_and_in_the_database(
    session: Session, accounts: list[tuple[int, int, int]]
) -> None:
    """The hold and the authorization compute it in SQL (``account_available_credit``), the
    account's description in Python (``ledger.available_credit``)."""
    accounts += [(0, 0, 0), (500_00, 0, 0), (500_00, 600_00, 0), (500_00, -20_00, 30_00), (1, 1, 1)]
    in_sql = session.execute(
        text(
            "select account_available_credit(l, p, q)"
            " from unnest(cast(:l as bigint[]), cast(:p as bigint[]), cast(:q as bigint[])) as a(l, p, q)"
        ),
        {"l": [a[0] for a in accounts], "p": [a[1] for a in accounts], "q": [a[2] for a in accounts]},
    ).scalars()
    assert list(in_sql) == [ledger.available_credit(a[0], ledger.Balances(a[1], a[2])) for a in accounts]


def test_the_credit_checks_use_the_one_definition_of_available_credit() -> None:
    """``ledger_hold`` and ``network_authorize`` call ``account_available_credit``; neither
    subtracts balances from a limit itself."""
    for path in (API / "ledger/sql/ledger_hold.sql", API / "network/sql/network_authorize.sql"):
        body = path.read_text(encoding="utf-8").split("$$")[1]
        assert "account_available_credit(" in body, path
        assert not re.search(r"credit_limit\s*-", body), path
