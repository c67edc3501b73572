"""Child processes that live and die with ``cardportal up`` (the Dagster webserver and daemon).

Each child runs in a session of its own, so stopping it stops its whole
process group (the webserver's code server, the daemon's run workers). They
are stopped when the parent exits by any path through Python: Ctrl-C,
SIGTERM (which ``cli`` turns into SystemExit) or an error.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, *, stop_timeout: float = 15.0) -> None:
        self.stop_timeout = stop_timeout
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        atexit.register(self.stop)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_file: Path,
        inherit: bool = True,
    ) -> subprocess.Popen[bytes]:
        """Start a child with ``env`` over this process's environment, or (``inherit=False``)
        with ``env`` alone: a child that must not see this process's credentials."""
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as output:
            child = subprocess.Popen(
                list(argv),
                env={**os.environ, **env} if inherit else dict(env),
                cwd=cwd,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.children[name] = child
        log.info("started %s (pid %s)", name, child.pid)
        return child

    def stop(self) -> None:
        """SIGTERM each child's process group, wait, then SIGKILL what is left."""
        running = {name: c for name, c in self.children.items() if c.poll() is None}
        for child in running.values():
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for name, child in running.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                _signal_group(child, signal.SIGKILL)
                child.wait(timeout=5)
        self.children.clear()


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(child.pid, signum)  # the child leads its own session, so its group id is its pid
    except ProcessLookupError:
        pass
