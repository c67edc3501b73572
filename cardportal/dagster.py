"""Starting the data platform beside the API: the warehouse, dbt's manifest, Dagster's instance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cardportal.database import DatabaseUrls
from cardportal.settings import Settings
from cardportal.supervisor import Supervisor
from cardportal.warehouse import dagster_environment, ensure_warehouse, write_dagster_yaml

REPO = Path(__file__).resolve().parent.parent
DBT_DIR = REPO / "dbt"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def dbt_parse() -> None:
    """dagster-dbt reads dbt's manifest when the code location loads: write it first."""
    subprocess.run(
        [_bin("dbt"), "parse", "--quiet", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)],
        check=True,
        cwd=DBT_DIR,
    )


def prepare(settings: Settings, urls: DatabaseUrls) -> dict[str, str]:
    """Warehouse schemas, dagster.yaml and the manifest; the environment Dagster runs with."""
    ensure_warehouse(urls.warehouse)
    write_dagster_yaml(settings.dagster_home, urls.dagster)
    dbt_parse()
    return {**dagster_environment(settings.dagster_home, urls.dagster), "CARDPORTAL_HOME": str(settings.home)}


def start(supervisor: Supervisor, settings: Settings, urls: DatabaseUrls, *, host: str) -> str:
    """The Dagster webserver and daemon as children of this process; the webserver's URL."""
    env = prepare(settings, urls)
    workspace = str(REPO / "workspace.yaml")
    logs = settings.home / "logs"
    supervisor.start(
        "dagster-webserver",
        [_bin("dagster-webserver"), "-w", workspace, "-h", host, "-p", str(settings.dagster_port)],
        env=env,
        cwd=REPO,
        log_file=logs / "dagster-webserver.log",
    )
    supervisor.start(
        "dagster-daemon",
        [_bin("dagster-daemon"), "run", "-w", workspace],
        env=env,
        cwd=REPO,
        log_file=logs / "dagster-daemon.log",
    )
    return f"http://{host}:{settings.dagster_port}"
