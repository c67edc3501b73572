"""The one resource every asset uses: where the databases and the home are.

Empty fields are resolved from cardportal's settings when a run starts (never
at import: resolving may start the embedded PostgreSQL). Tests pass explicit
URLs and a home.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from pathlib import Path

import psycopg
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from cardportal.database import libpq_conninfo


class PlatformResource(ConfigurableResource):  # type: ignore[type-arg]
    """Operational and warehouse databases, the home folder and the PII salt."""

    operational_url: str = ""
    warehouse_url: str = ""
    home: str = ""
    pii_hash_salt: str = ""

    _operational: str = PrivateAttr(default="")
    _warehouse: str = PrivateAttr(default="")
    _home: Path = PrivateAttr(default=Path("."))
    _salt: bytes = PrivateAttr(default=b"")

    def setup_for_execution(self, context: InitResourceContext) -> None:  # noqa: ARG002
        from cardportal.settings import get_settings
        from cardportal.warehouse import ensure_warehouse

        settings = get_settings() if not (self.operational_url and self.warehouse_url and self.home) else None
        if self.operational_url and self.warehouse_url:
            operational, warehouse = self.operational_url, self.warehouse_url
        else:
            from cardportal.database import resolve_databases

            assert settings is not None
            urls = resolve_databases(settings)
            operational, warehouse = urls.operational, urls.warehouse
        self._operational = libpq_conninfo(operational)
        self._warehouse = libpq_conninfo(warehouse)
        self._home = Path(self.home) if self.home else (settings or get_settings()).home
        salt = self.pii_hash_salt or (settings or get_settings()).secret("pii_hash_salt")
        if not salt:
            raise RuntimeError("PII_HASH_SALT must be set for the warehouse's customer keys")
        self._salt = salt.encode()
        ensure_warehouse(self._warehouse)

    @property
    def home_dir(self) -> Path:
        return self._home

    @property
    def reports_dir(self) -> Path:
        return self._home / "reports"

    @property
    def log_dir(self) -> Path:
        return self._home / "logs" / "api"

    @property
    def warehouse_conninfo(self) -> str:
        return self._warehouse

    def operational(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self._operational)

    def warehouse(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self._warehouse)

    def customer_key(self, user_id: str) -> str:
        """A stable salted key for a person: HMAC-SHA-256 of the user id, 32 hex digits."""
        return hmac.new(self._salt, user_id.encode(), hashlib.sha256).hexdigest()[:32]


def age_band(born: date, on: date) -> str:
    """Age bands instead of birth dates (the bands marketing and risk use)."""
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    for upper, band in ((18, "under_18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54")):
        if years < upper:
            return band
    return "55-64" if years < 65 else "65+"
