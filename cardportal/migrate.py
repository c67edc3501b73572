"""Alembic, driven from code: ``cardportal db upgrade|downgrade|current``."""

from __future__ import annotations

import io
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool

from cardportal.database import with_driver

MIGRATIONS = Path(__file__).resolve().parent.parent / "api" / "migrations"


def alembic_config(url: str) -> Config:
    config = Config(stdout=io.StringIO())
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", with_driver(url, "psycopg").replace("%", "%%"))
    return config


def _run(url: str, action: str, revision: str | None = None) -> str:
    config = alembic_config(url)
    engine = create_engine(with_driver(url, "psycopg"), poolclass=pool.NullPool)
    with engine.begin() as connection:
        # One migrator at a time per database, whoever else starts beside us.
        connection.exec_driver_sql("select pg_advisory_xact_lock(7423012)")
        config.attributes["connection"] = connection
        if action == "upgrade":
            command.upgrade(config, revision or "head")
        elif action == "downgrade":
            command.downgrade(config, revision or "-1")
        elif action == "current":
            command.current(config, verbose=False)
        else:
            raise ValueError(action)
    engine.dispose()
    out = config.stdout
    return out.getvalue() if isinstance(out, io.StringIO) else ""


def upgrade(url: str, revision: str = "head") -> None:
    _run(url, "upgrade", revision)


def downgrade(url: str, revision: str = "-1") -> None:
    _run(url, "downgrade", revision)


def current(url: str) -> str:
    return _run(url, "current").strip() or "(no revision: the database is empty)"
