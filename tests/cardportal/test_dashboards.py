"""The dashboards' process: their own logins, the home and the API, and no owner's credential or
secret (issue 21, finding 3)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from cardportal.dashboards import environment
from cardportal.supervisor import Supervisor
from cardportal.warehouse import ReaderUrls
from tests.conftest import make_settings

OWNER = "postgresql://postgres:owner-secret@db.example.com"
# What the parent (`cardportal up`) may hold: the owners' URLs, every secret, libpq's defaults.
PARENT_SECRETS = {
    "DATABASE_URL": f"{OWNER}/cardportal",
    "WAREHOUSE_URL": f"{OWNER}/warehouse",
    "DAGSTER_DATABASE_URL": f"{OWNER}/dagster",
    "DAGSTER_PG_URL": f"{OWNER}/dagster",
    "JWT_SECRET": "j" * 40,
    "CARD_DATA_KEY": "c" * 64,
    "PII_HASH_SALT": "s" * 40,
    "NETWORK_API_KEY": "network-key-0123456789",
    "STRIPE_API_KEY": "sk_live_secret",
    "STRIPE_WEBHOOK_SECRET": "whsec_secret",
    "BUREAU_API_KEY": "bureau-key",
    "FIRST_ADMIN_PASSWORD": "admin-password",
    "PGPASSWORD": "owner-secret",
    "PGUSER": "postgres",
    "PGPASSFILE": "/root/.pgpass",
}
READERS = ReaderUrls(
    reports="postgresql://cardportal_reports:r@db.example.com/warehouse",
    dashboards_warehouse="postgresql://cardportal_dashboards:d@db.example.com/warehouse",
    dashboards_dagster="postgresql://cardportal_dashboards:d@db.example.com/dagster",
)


def _assert_no_owner_or_secret(env: dict[str, str]) -> None:
    assert not set(PARENT_SECRETS) & set(env), sorted(set(PARENT_SECRETS) & set(env))
    for value in env.values():
        assert "owner-secret" not in value
        assert not any(secret in value for secret in PARENT_SECRETS.values() if len(secret) > 8)
    assert READERS.reports not in env.values()  # the API's login is not theirs either


def test_the_dashboards_environment_has_their_logins_and_no_secret(tmp_path: Path) -> None:
    """Before, the dashboards got WAREHOUSE_URL and DAGSTER_DATABASE_URL (the owners') and
    inherited every variable of `cardportal up`, DATABASE_URL and JWT_SECRET included."""
    settings = make_settings(tmp_path)
    parent = {**PARENT_SECRETS, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env = environment(settings, READERS, api="http://127.0.0.1:8000", parent=parent)
    _assert_no_owner_or_secret(env)
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "DASHBOARDS_WAREHOUSE_URL": READERS.dashboards_warehouse,
        "DASHBOARDS_DAGSTER_URL": READERS.dashboards_dagster,
        "CARDPORTAL_HOME": str(settings.home),
        "DAGSTER_UI_URL": f"http://localhost:{settings.dagster_port}",
        "CARDPORTAL_DOCS_URL": f"http://localhost:{settings.docs_port}",
        "CARDPORTAL_API_URL": "http://127.0.0.1:8000",
    }


def test_the_dashboards_process_inherits_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real child's environment, started as `cardportal up` starts the dashboards."""
    for name, value in PARENT_SECRETS.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path)
    dump = tmp_path / "env.json"
    script = f"import json, os; open({str(dump)!r}, 'w').write(json.dumps(dict(os.environ)))"
    supervisor = Supervisor(stop_timeout=5)
    try:
        child = supervisor.start(
            "dashboards",
            [sys.executable, "-c", script],
            env=environment(settings, READERS, api="http://127.0.0.1:8000"),
            inherit=False,
            cwd=tmp_path,
            log_file=tmp_path / "dashboards.log",
        )
        child.wait(timeout=30)
    finally:
        supervisor.stop()
    deadline = time.monotonic() + 5
    while not dump.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    seen: dict[str, str] = json.loads(dump.read_text())
    seen.pop("LC_CTYPE", None)  # Python's own locale coercion may add it
    _assert_no_owner_or_secret(seen)
    assert seen["DASHBOARDS_WAREHOUSE_URL"] == READERS.dashboards_warehouse
