"""Starting the Streamlit dashboards: alone (`cardportal dashboards`) or beside the API (`up`)."""

from __future__ import annotations

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


def environment(settings: Settings, urls: DatabaseUrls) -> dict[str, str]:
    """The dashboards read the warehouse (as the reader role) and the report files under the home."""
    return {
        "WAREHOUSE_URL": urls.warehouse,
        "DAGSTER_DATABASE_URL": urls.dagster,
        "CARDPORTAL_HOME": str(settings.home),
        "DAGSTER_UI_URL": f"http://localhost:{settings.dagster_port}",
    }


def start(supervisor: Supervisor, settings: Settings, urls: DatabaseUrls, *, host: str) -> str:
    """Streamlit as a child of ``cardportal up``; its URL."""
    ensure_warehouse(urls.warehouse)
    supervisor.start(
        "dashboards",
        command(host=host, port=settings.dashboards_port),
        env=environment(settings, urls),
        cwd=REPO,
        log_file=settings.home / "logs" / "dashboards.log",
    )
    return f"http://{host}:{settings.dashboards_port}"


def run(settings: Settings, urls: DatabaseUrls, *, host: str, port: int, extra: Sequence[str] = ()) -> int:
    """Streamlit in the foreground until Ctrl-C."""
    import os

    ensure_warehouse(urls.warehouse)
    env = {**os.environ, **environment(settings, urls)}
    try:
        return subprocess.call([*command(host=host, port=port), *extra], env=env, cwd=REPO)
    except KeyboardInterrupt:
        return 0
