"""Starting the data platform beside the API: the warehouse, dbt's manifest, Dagster's instance."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cardportal.database import DatabaseUrls
from cardportal.settings import Settings
from cardportal.supervisor import Supervisor
from cardportal.warehouse import POOL_LIMITS, dagster_environment, ensure_warehouse, write_dagster_yaml

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
    """Warehouse schemas, dagster.yaml, the pools' limits and the manifest; the environment
    Dagster runs with."""
    ensure_warehouse(urls.warehouse)
    write_dagster_yaml(settings.dagster_home, urls.dagster)
    env = {**dagster_environment(settings.dagster_home, urls.dagster), "CARDPORTAL_HOME": str(settings.home)}
    set_pool_limits(env)
    dbt_parse()
    return env


def set_pool_limits(env: dict[str, str]) -> None:
    """Each pool's limit in the instance's storage, before the daemon's queue sees a run.

    Left to dagster.yaml's ``default_limit``, a pool gets its limit only when the queue first
    meets it, and the runs dequeued in that same pass are not held back (pipelines/pools.py).
    """
    for pool, limit in POOL_LIMITS.items():
        subprocess.run(
            [_bin("dagster"), "instance", "concurrency", "set", pool, str(limit)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )


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


# Runs through the persistent instance, by way of the webserver's GraphQL API ------------------

LOCATION = "pipelines.definitions"  # workspace.yaml's python_module
REPOSITORY = "__repository__"  # the name Dagster gives a module's one Definitions
SENSOR = "closed_days_sensor"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH_TAG = "cardportal/launch"
# One process per run: on two cores the multiprocess executor's start-up per step costs
# more than the steps (RECIPES.md: ~80 s against ~38 s for a partition).
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}


class DagsterError(RuntimeError):
    pass


class DagsterUI:
    """The few GraphQL calls ``cardportal up`` makes to the webserver it started.

    Runs launched here go through the persistent instance (PostgreSQL storage, the
    queued run coordinator and the daemon), as runs launched from the UI do, so they
    show at :3000 with their events and materialized partitions.
    """

    def __init__(self, url: str, *, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def query(self, document: str, **variables: object) -> dict[str, Any]:
        import httpx

        response = httpx.post(
            f"{self.url}/graphql", json={"query": document, "variables": variables}, timeout=self.timeout
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise DagsterError(str(body["errors"])[:500])
        data: dict[str, Any] = body["data"]
        return data

    def wait_ready(self, timeout: float = 300.0) -> None:
        """Until the webserver answers and has loaded the code location."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                data = self.query(
                    "query { workspaceOrError { __typename ... on Workspace { locationEntries { name "
                    "locationOrLoadError { __typename } } } } }"
                )
                entries = data["workspaceOrError"].get("locationEntries", [])
                if any(
                    e["name"] == LOCATION
                    and e["locationOrLoadError"]
                    and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                    for e in entries
                ):
                    return
            except (httpx.HTTPError, DagsterError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise DagsterError(f"the Dagster webserver at {self.url} did not load {LOCATION}")
            time.sleep(2)

    def _sensor_selector(self) -> dict[str, str]:
        return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": SENSOR}

    def stop_sensor(self) -> None:
        data = self.query(
            "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename "
            "... on Sensor { sensorState { id status } } ... on PythonError { message } } }",
            s=self._sensor_selector(),
        )
        sensor = data["sensorOrError"]
        if sensor["__typename"] != "Sensor":
            raise DagsterError(f"no sensor {SENSOR}: {sensor}")
        if sensor["sensorState"]["status"] == "STOPPED":
            return
        data = self.query(
            "mutation($id: String) { stopSensor(id: $id) { __typename ... on PythonError { message } } }",
            id=sensor["sensorState"]["id"],
        )
        if data["stopSensor"]["__typename"] != "StopSensorMutationResult":
            raise DagsterError(f"could not stop {SENSOR}: {data['stopSensor']}")

    def start_sensor(self, cursor: str | None) -> None:
        """Set the sensor's cursor (the last day it launched) and start it."""
        self.query(
            "mutation($s: SensorSelector!, $c: String) { setSensorCursor(sensorSelector: $s, cursor: $c) "
            "{ __typename } }",
            s=self._sensor_selector(),
            c=cursor,
        )
        data = self.query(
            "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename "
            "... on PythonError { message } } }",
            s=self._sensor_selector(),
        )
        if data["startSensor"]["__typename"] != "Sensor":
            raise DagsterError(f"could not start {SENSOR}: {data['startSensor']}")

    def find_run(self, key: str, value: str) -> str | None:
        """The newest run carrying a tag, if any."""
        data = self.query(
            "query($t: [ExecutionTag!]) { runsOrError(filter: {tags: $t}, limit: 1) { __typename "
            "... on Runs { results { runId } } } }",
            t=[{"key": key, "value": value}],
        )
        results = data["runsOrError"].get("results") or []
        return str(results[0]["runId"]) if results else None

    def launch_once(
        self, job: str, tags: dict[str, str], *, key: str, run_config: dict[str, Any] | None = None
    ) -> str:
        """A run of ``job`` tagged ``cardportal/launch=key``, unless one exists (a resumed start,
        or a launch whose answer timed out after the run was created): its run id."""
        existing = self.find_run(LAUNCH_TAG, key)
        if existing:
            return existing
        try:
            return self.launch(job, {**tags, LAUNCH_TAG: key}, run_config=run_config)
        except Exception:
            found = self.find_run(LAUNCH_TAG, key)
            if found:
                return found
            raise

    def launch(self, job: str, tags: dict[str, str], *, run_config: dict[str, Any] | None = None) -> str:
        """Queue a run of a job (the daemon launches it); its run id."""
        data = self.query(
            "mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename "
            "... on LaunchRunSuccess { run { runId } } ... on PythonError { message } "
            "... on InvalidSubsetError { message } "
            "... on RunConfigValidationInvalid { errors { message } } } }",
            p={
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": REPOSITORY,
                    "jobName": job,
                },
                "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
                "runConfigData": run_config or {},
            },
        )
        launched = data["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise DagsterError(f"{job} was not launched: {launched}")
        run_id: str = launched["run"]["runId"]
        return run_id

    def status(self, run_id: str) -> str:
        data = self.query(
            "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }", id=run_id
        )
        status: str = data["runOrError"].get("status", "UNKNOWN")
        return status

    def wait(self, run_ids: list[str], timeout: float) -> dict[str, str]:
        """Until every run finished (or the timeout); each run's last status."""
        deadline = time.monotonic() + timeout
        statuses = dict.fromkeys(run_ids, "QUEUED")
        while True:
            for run_id, status in statuses.items():
                if status not in FINISHED:
                    statuses[run_id] = self.status(run_id)
            if all(s in FINISHED for s in statuses.values()) or time.monotonic() > deadline:
                return statuses
            time.sleep(5)
