"""Starting the Streamlit dashboards: alone (`cardportal dashboards`) or beside the API (`up`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from cardportal.database import DatabaseUrls
from cardportal.settings import Settings
from cardportal.supervisor import Supervisor
from cardportal.warehouse import (
    ReaderUrls,
    ensure_reader_logins,
    ensure_warehouse,
    grant_dagster_runs_when_ready,
)

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "dashboards" / "app.py"


def command(*, host: str, port: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "streamlit"),
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]


def api_url(settings: Settings) -> str:
    """The API as the dashboards reach it (a wildcard listen address is reached on loopback)."""
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    return f"http://{host}:{settings.api_port}"


# What the dashboards' process inherits from its parent: how to run (paths, locale, temp
# folders, certificates, proxies, Streamlit's own options), never a credential. Everything
# else (DATABASE_URL, WAREHOUSE_URL, DAGSTER_DATABASE_URL, JWT_SECRET, CARD_DATA_KEY,
# STRIPE_*, PG* such as PGPASSWORD...) stays with the parent.
_INHERITED = {
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TERM",
    "VIRTUAL_ENV",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "XDG_RUNTIME_DIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
}
_INHERITED_PREFIXES = ("LC_", "STREAMLIT_")


def environment(
    settings: Settings,
    readers: ReaderUrls,
    *,
    api: str | None = None,
    parent: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The dashboards' whole environment: the readers' URLs (the dashboards' own login, on the
    warehouse and on Dagster's storage), the home (report files), the API and Dagster's UI, and
    from ``parent`` (this process's environment) only what running needs: no owner's URL, no
    secret (issue 21, finding 3)."""
    parent = os.environ if parent is None else parent
    inherited = {
        name: value
        for name, value in parent.items()
        if name in _INHERITED or name.startswith(_INHERITED_PREFIXES)
    }
    return {
        **inherited,
        "DASHBOARDS_WAREHOUSE_URL": readers.dashboards_warehouse,
        "DASHBOARDS_DAGSTER_URL": readers.dashboards_dagster,
        "CARDPORTAL_HOME": str(settings.home),
        "DAGSTER_UI_URL": f"http://localhost:{settings.dagster_port}",
        "CARDPORTAL_DOCS_URL": f"http://localhost:{settings.docs_port}",
        # Sign-in goes through the API (POST /v1/auth/token).
        "CARDPORTAL_API_URL": api or parent.get("CARDPORTAL_API_URL") or api_url(settings),
    }


def _prepare(settings: Settings, urls: DatabaseUrls) -> ReaderUrls:
    """The warehouse's fixed parts and (sandbox) the dashboards' login; the readers' URLs."""
    ensure_warehouse(urls.warehouse)
    readers = ensure_reader_logins(settings, warehouse=urls.warehouse, dagster=urls.dagster)
    if settings.env == "sandbox" and not settings.dashboards_dagster_url:
        # Dagster's webserver makes its tables as it starts, beside us: grant once they exist.
        grant_dagster_runs_when_ready(urls.dagster)
    return readers


def start(
    supervisor: Supervisor, settings: Settings, urls: DatabaseUrls, *, host: str, api: str | None = None
) -> str:
    """Streamlit as a child of ``cardportal up``; its URL."""
    readers = _prepare(settings, urls)
    supervisor.start(
        "dashboards",
        command(host=host, port=settings.dashboards_port),
        env=environment(settings, readers, api=api),
        inherit=False,
        cwd=REPO,
        log_file=settings.home / "logs" / "dashboards.log",
    )
    return f"http://{host}:{settings.dashboards_port}"


def run(settings: Settings, urls: DatabaseUrls, *, host: str, port: int, extra: Sequence[str] = ()) -> int:
    """Streamlit in the foreground until Ctrl-C."""
    env = environment(settings, _prepare(settings, urls))
    try:
        return subprocess.call([*command(host=host, port=port), *extra], env=env, cwd=REPO)
    except KeyboardInterrupt:
        return 0
