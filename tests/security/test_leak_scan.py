"""After a simulated run and the pipelines, nothing secret or personal is anywhere downstream.

The world of tests/pipelines (customers applying, spending, refunds, declines over three
business days, driven through the real API) is extracted, modelled, checked, published and
reported. Then every warehouse table (all schemas, every column of every row), every report
file (CSV, the XML inside each XLSX, the text of each PDF) and every log line (the access
log, the app's own log records, any other file under logs/) is scanned for:

- card numbers: the PANs issued in the run (plain and grouped), and any Luhn-valid run of
  13 to 19 digits with a card network's leading digit;
- the password used in the run, access tokens (any JWT) and refresh tokens (``rt_…``);
- the secrets: JWT, card-data key, network key, Stripe API and webhook secrets, the PII salt;
- emails (any address at all) and the customers' names.
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cardportal.database import libpq_conninfo
from cardportal.settings import Settings
from tests.factories import PASSWORD
from tests.faults.conftest import write_result
from tests.pipelines.conftest import SALT, Pipeline
from tests.pipelines.conftest import dbt_manifest as dbt_manifest
from tests.pipelines.conftest import pipeline as pipeline
from tests.security.scan import luhn_valid

pytestmark = pytest.mark.xdist_group("pipeline")

# Not the fractional digits of a number (``12.3456789012345678`` in a latency mart).
_DIGITS = re.compile(r"(?<![0-9A-Za-z.])[2-6]\d{12,18}(?![0-9A-Za-z]|\.\d)")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}")
_REFRESH = re.compile(r"(?<![A-Za-z0-9])rt_[A-Za-z0-9_-]{40,}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@dataclass
class Finding:
    where: str
    what: str


@dataclass
class Needles:
    exact: dict[str, str]  # the value -> what it is

    def scan(self, where: str, content: str) -> list[Finding]:
        found = [Finding(where, what) for value, what in self.exact.items() if value in content]
        found += [
            Finding(where, "a Luhn-valid card number") for n in _DIGITS.findall(content) if luhn_valid(n)
        ]
        found += [Finding(where, "an access token (JWT)") for _ in _JWT.findall(content)]
        found += [Finding(where, "a refresh token") for _ in _REFRESH.findall(content)]
        found += [Finding(where, f"an email ({m})") for m in _EMAIL.findall(content)]
        return found


@pytest.fixture(scope="module")
def app_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The application's log records (every logger, INFO and up) while the world runs, in a file."""
    path = tmp_path_factory.mktemp("applog") / "app.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield path
    root.removeHandler(handler)
    root.setLevel(level)
    handler.close()


@pytest.fixture(scope="module")
def scanned(app_log: Path, request: pytest.FixtureRequest) -> tuple[Pipeline, Path]:
    """The pipeline's world, built while the app log is recorded."""
    from dagster import DagsterInstance, materialize

    from pipelines.assets_reports import monthly_finance_pack

    state: Pipeline = request.getfixturevalue("pipeline")
    assert state.result.success
    # The monthly finance pack too (the PDF report), over the month the world ran in.
    month = state.world.days[0].replace(day=1).isoformat()
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            [monthly_finance_pack], resources=state.resources, partition_key=month, instance=instance
        ).success
    return state, app_log


def _needles(engine: Engine, app: FastAPI, settings: Settings) -> Needles:
    exact: dict[str, str] = {PASSWORD: "the password used in the run", SALT: "the PII salt"}
    for name in ("jwt_secret", "card_data_key", "network_api_key", "stripe_api_key", "stripe_webhook_secret"):
        exact[settings.secret(name)] = f"the secret {name}"
    exact[settings.secret("first_admin_password")] = "the first admin's password"
    vault = app.state.card_vault
    with engine.connect() as conn:
        for card_id, ciphertext in conn.execute(text("select id, pan_ciphertext from cards")):
            pan = vault.decrypt(ciphertext, card_id)
            assert luhn_valid(pan)
            exact[pan] = "a card number issued in the run"
            for sep in (" ", "-"):
                exact[sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))] = "a card number, grouped"
        for email, full_name in conn.execute(text("select email, full_name from users")):
            exact[str(email)] = "a customer's email"
            exact[str(full_name)] = "a customer's name"
    assert len(exact) > 10
    return Needles(exact)


def _warehouse_rows(warehouse_url: str) -> Iterator[tuple[str, str]]:
    """(schema.table, the row as text) for every row of every table outside the catalogs."""
    with psycopg.connect(libpq_conninfo(warehouse_url)) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema not in ('pg_catalog', 'information_schema') "
            "and table_type in ('BASE TABLE', 'VIEW') order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            query = psycopg.sql.SQL("select t::text from {}.{} t").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
            )
            for (row,) in conn.execute(query):
                yield f"{schema}.{table}", row


def _report_texts(reports_dir: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(p for p in reports_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(reports_dir))
        if path.suffix == ".pdf":
            reader = PdfReader(path)
            yield name, "\n".join(page.extract_text() or "" for page in reader.pages)
            yield f"{name} (metadata)", str(reader.metadata or {})
        elif path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield f"{name}:{member}", archive.read(member).decode("utf-8", "replace")
        else:
            yield name, path.read_text(encoding="utf-8", errors="replace")


def test_nothing_secret_or_personal_reaches_the_warehouse_reports_or_logs(
    scanned: tuple[Pipeline, Path], engine: Engine, app: FastAPI, settings: Settings
) -> None:
    state, app_log = scanned
    needles = _needles(engine, app, settings)
    # The scanner itself finds what it looks for (a PAN of the run, any JWT, a refresh token).
    pan = next(value for value, what in needles.exact.items() if what == "a card number issued in the run")
    probe = f"x {pan} eyJhbGciOi.eyJzdWIiOiJ1.c2lnbmF0dXJlX3g rt_{'A' * 43} ada@example.com"
    assert {f.what for f in needles.scan("probe", probe)} >= {
        "a card number issued in the run",
        "a Luhn-valid card number",
        "an access token (JWT)",
        "a refresh token",
        "an email (ada@example.com)",
    }
    findings: list[Finding] = []
    counts: dict[str, Any] = {
        "warehouse_tables": set(),
        "warehouse_rows": 0,
        "report_parts": 0,
        "log_lines": 0,
    }

    for table, row in _warehouse_rows(state.warehouse_url):
        counts["warehouse_tables"].add(table)
        counts["warehouse_rows"] += 1
        findings += needles.scan(table, row)

    reports_dir = state.home / "reports"
    formats = {p.suffix for p in reports_dir.rglob("*") if p.is_file()}
    assert {".csv", ".xlsx", ".pdf"} <= formats, formats
    for name, content in _report_texts(reports_dir):
        counts["report_parts"] += 1
        findings += needles.scan(name, content)

    logs = [p for p in (state.home / "logs").rglob("*") if p.is_file()] + [app_log]
    for path in logs:
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            counts["log_lines"] += 1
            findings += needles.scan(f"{path.name}:{number}", line)

    # The scan saw the whole run: raw, staging and marts, the request log, the app's records.
    schemas = {t.split(".")[0] for t in counts["warehouse_tables"]}
    assert {"raw", "marts", "reporting"} <= schemas, schemas
    assert counts["warehouse_rows"] > 200
    assert counts["log_lines"] > 100
    assert app_log.stat().st_size > 0
    write_result(
        "leak_scan",
        {
            "warehouse_tables": len(counts["warehouse_tables"]),
            "warehouse_rows": counts["warehouse_rows"],
            "report_parts": counts["report_parts"],
            "log_lines": counts["log_lines"],
            "needles": len(needles.exact),
            "findings": len(findings),
        },
    )
    assert findings == [], sorted({(f.where, f.what) for f in findings})[:40]
