"""Starting the Streamlit dashboards: alone (`cardportal dashboards`) or beside the API (`up`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from cardportal.database import DatabaseUrls
from cardportal.settings import Settings
from cardportal.supervisor import Supervisor
from cardportal.warehouse import ensure_warehouse

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


def environment(settings: Settings, urls: DatabaseUrls, *, api: str | None = None) -> dict[str, str]:
    """The dashboards read the warehouse (as the reader role) and the report files under the home."""
    return {
        "WAREHOUSE_URL": urls.warehouse,
        "DAGSTER_DATABASE_URL": urls.dagster,
        "CARDPORTAL_HOME": str(settings.home),
        "DAGSTER_UI_URL": f"http://localhost:{settings.dagster_port}",
        "CARDPORTAL_DOCS_URL": f"http://localhost:{settings.docs_port}",
        # Sign-in goes through the API (POST /v1/auth/token).
        "CARDPORTAL_API_URL": api or os.environ.get("CARDPORTAL_API_URL") or api_url(settings),
    }


def start(
    supervisor: Supervisor, settings: Settings, urls: DatabaseUrls, *, host: str, api: str | None = None
) -> str:
    """Streamlit as a child of ``cardportal up``; its URL."""
    ensure_warehouse(urls.warehouse)
    supervisor.start(
        "dashboards",
        command(host=host, port=settings.dashboards_port),
        env=environment(settings, urls, api=api),
        cwd=REPO,
        log_file=settings.home / "logs" / "dashboards.log",
    )
    return f"http://{host}:{settings.dashboards_port}"


def run(settings: Settings, urls: DatabaseUrls, *, host: str, port: int, extra: Sequence[str] = ()) -> int:
    """Streamlit in the foreground until Ctrl-C."""
    ensure_warehouse(urls.warehouse)
    env = {**os.environ, **environment(settings, urls)}
    try:
        return subprocess.call([*command(host=host, port=port), *extra], env=env, cwd=REPO)
    except KeyboardInterrupt:
        return 0
