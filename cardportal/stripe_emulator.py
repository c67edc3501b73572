"""The sandbox's Stripe: the ``localstripe`` emulator as a child process.

``cardportal up`` (sandbox mode, no ``STRIPE_API_BASE`` given) and the test
session start it with ``--from-scratch`` (its shared pickle would slow every
call as it grows), point the Stripe SDK at it, and register the API's webhook
endpoint with it. Registrations live in its memory: register after each start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from cardportal.settings import Settings

WEBHOOK_NAME = "cardportal"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _executable() -> str:
    beside = Path(sys.executable).with_name("localstripe")
    if beside.exists():
        return str(beside)
    found = shutil.which("localstripe")
    if found is None:
        raise RuntimeError("localstripe is not installed (it is a dependency of cardportal)")
    return found


@dataclass
class Emulator:
    process: subprocess.Popen[bytes]
    url: str
    log: IO[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()

    def reset(self) -> None:
        """Forget every object (webhook registrations stay)."""
        httpx.delete(f"{self.url}/_config/data", timeout=10).raise_for_status()

    def register_webhook(self, url: str, secret: str, name: str = WEBHOOK_NAME) -> None:
        response = httpx.post(
            f"{self.url}/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=10
        )
        response.raise_for_status()


def start(port: int, *, log_path: Path, timeout: float = 30.0) -> Emulator:
    """Start localstripe on 127.0.0.1:``port`` and wait until it answers."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(
        [_executable(), "--port", str(port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    emulator = Emulator(process=process, url=f"http://127.0.0.1:{port}", log=log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            emulator.stop()
            raise RuntimeError(f"localstripe exited with {process.returncode}; see {log_path}")
        try:
            answer = httpx.get(
                f"{emulator.url}/v1/customers", headers={"Authorization": "Bearer sk_test_ready"}, timeout=2
            )
            if answer.status_code == 200:
                return emulator
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            emulator.stop()
            raise RuntimeError(f"localstripe did not answer within {timeout:.0f} s; see {log_path}")
        time.sleep(0.1)


def emulator_url_file(settings: Settings) -> Path:
    """Where a running ``cardportal up`` leaves its emulator's URL for other commands."""
    return settings.home / "run" / "stripe-emulator.url"


def start_for_api(settings: Settings, host: str, port: int) -> Emulator | None:
    """In sandbox mode without STRIPE_API_BASE: localstripe as a child, the SDK pointed at it,
    and the API's webhook (on ``host:port``) registered with it. None when not needed."""
    if settings.env != "sandbox" or settings.stripe_api_base:
        return None
    emulator = start(free_port(), log_path=settings.log_dir / "localstripe.log")
    settings.stripe_api_base = emulator.url
    os.environ["STRIPE_API_BASE"] = emulator.url  # for API workers started by uvicorn
    webhook_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    emulator.register_webhook(
        f"http://{webhook_host}:{port}/v1/webhooks/stripe", settings.secret("stripe_webhook_secret")
    )
    url_file = emulator_url_file(settings)
    url_file.parent.mkdir(parents=True, exist_ok=True)
    url_file.write_text(emulator.url)
    return emulator
