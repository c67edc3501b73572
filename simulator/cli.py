"""``cardportal simulate``: arguments, the API to drive, progress and the summary table."""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from cardportal.settings import Settings
from cardportal.stripe_emulator import start_for_api as start_stripe_emulator
from simulator.engine import Simulation, SimulationConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=50, help="how many customers (default 50)")
    parser.add_argument("--days", type=int, default=30, help="how many days to simulate (default 30)")
    parser.add_argument("--seed", type=int, default=42, help="the world's seed (default 42)")
    parser.add_argument("--start", type=date.fromisoformat, default=None, help="first day (YYYY-MM-DD)")
    parser.add_argument("--base-url", default=None, help="a running API; default: start one in process")
    parser.add_argument("--workers", type=int, default=8, help="concurrent customers (default 8)")
    parser.add_argument("--output", type=Path, default=None, help="folder for summary and ground truth")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="large worlds: the API's services in process on the sandbox database, in batches (no HTTP)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=100, help="--bulk: customers per transaction (default 100)"
    )


def validate(args: argparse.Namespace) -> str | None:
    if args.customers < 1:
        return "--customers must be at least 1"
    if args.days < 1:
        return "--days must be at least 1"
    if args.days > 3660:
        return "--days must be at most 3660"
    if args.workers < 1 or args.workers > 64:
        return "--workers must be between 1 and 64"
    if getattr(args, "bulk", False):
        if args.base_url is not None:
            return "--bulk runs the services in process on the sandbox's database; it takes no --base-url"
        if not 1 <= args.batch_size <= 10_000:
            return "--batch-size must be between 1 and 10000"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def api_in_process(settings: Settings, database_url: str, port: int) -> Iterator[str]:
    """Serve the API on a loopback port in a thread for the simulation's duration.

    Its simulated customers all sign up and sign in from 127.0.0.1, which the per-IP
    credential limit (10/minute) exists to stop: this private API gives the credential
    endpoints the general per-IP budget instead."""
    import uvicorn

    from api.main import create_app

    settings = settings.model_copy(update={"rate_limit_credentials_per_ip": settings.rate_limit_per_ip})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database_url=database_url),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the in-process API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def _expected_declines() -> Iterator[None]:
    """The world has cards that Stripe declines, on purpose: the daily job's warning for each
    declined autopay would interleave with the progress bar and the summary (and ignore
    ``--quiet``). The ground truth and the summary count them; errors still print."""
    payments_log = logging.getLogger("cardportal.payments")
    level = payments_log.level
    payments_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        payments_log.setLevel(level)


def run(settings: Settings, args: argparse.Namespace, database_url: str | None) -> int:
    problem = validate(args)
    if problem:
        print(f"cardportal simulate: {problem}", file=sys.stderr)
        return 2
    with _expected_declines():
        if getattr(args, "bulk", False):
            return run_bulk(settings, args, database_url)
        return run_http(settings, args, database_url)


def run_http(settings: Settings, args: argparse.Namespace, database_url: str | None) -> int:
    """The default mode: the world through the HTTP API (``simulator.http_transport``)."""
    with contextlib.ExitStack() as stack:
        base_url = args.base_url
        if base_url is None:
            assert database_url is not None
            port = free_port()
            # In the sandbox, payments need Stripe: the same emulator `cardportal up` starts.
            emulator = start_stripe_emulator(settings, "127.0.0.1", port)
            if emulator is not None:
                stack.callback(emulator.stop)
            base_url = stack.enter_context(api_in_process(settings, database_url, port))
        elif settings.stripe_api_base is None:
            running = settings.home / "run" / "stripe-emulator.url"
            if running.exists():  # the emulator of a `cardportal up` on this home
                settings.stripe_api_base = running.read_text().strip()
        try:
            httpx.get(f"{base_url.rstrip('/')}/healthz", timeout=5).raise_for_status()
        except httpx.HTTPError as error:
            print(f"cardportal simulate: the API at {base_url} is not reachable ({error})", file=sys.stderr)
            return 2
        output = args.output or settings.home / "simulations" / f"seed{args.seed}"
        config = SimulationConfig(
            base_url=base_url,
            customers=args.customers,
            days=args.days,
            seed=args.seed,
            start=args.start,
            network_key=settings.secret("network_api_key"),
            admin_email=settings.first_admin_email or "",
            admin_password=settings.secret("first_admin_password"),
            stripe_api_base=settings.stripe_api_base,
            stripe_api_key=settings.secret("stripe_api_key"),
            workers=args.workers,
            output_dir=output,
        )
        started = time.perf_counter()
        try:
            summary = _run_with_progress(config, quiet=args.quiet)
        except ValueError as error:  # e.g. a --start before the sandbox clock
            print(f"cardportal simulate: {error}", file=sys.stderr)
            return 2
        elapsed = time.perf_counter() - started
    return _finish(summary, elapsed, output)


def run_bulk(settings: Settings, args: argparse.Namespace, database_url: str | None) -> int:
    """``--bulk``: the same world through the services in process (``simulator.inprocess``)."""
    from simulator.inprocess import InProcessTransport

    if settings.env != "sandbox":
        print(
            "cardportal simulate: --bulk moves the sandbox clock; this platform is not a sandbox",
            file=sys.stderr,
        )
        return 2
    assert database_url is not None
    output = args.output or settings.home / "simulations" / f"seed{args.seed}"
    config = SimulationConfig(
        base_url="",
        customers=args.customers,
        days=args.days,
        seed=args.seed,
        start=args.start,
        network_key="",
        admin_email=settings.first_admin_email or "",
        admin_password="",
        workers=args.workers,
        output_dir=output,
    )

    def make(on_day: Callable[[int, int], None] | None) -> Simulation:
        transport = InProcessTransport(
            config,
            database_url=database_url,
            card_data_key=settings.secret("card_data_key"),
            batch_size=args.batch_size,
        )
        return Simulation(config, transport=transport, on_day=on_day)

    started = time.perf_counter()
    try:
        summary = _run_with_progress(config, quiet=args.quiet, make=make)
    except ValueError as error:  # e.g. a --start before the sandbox clock
        print(f"cardportal simulate: {error}", file=sys.stderr)
        return 2
    return _finish(summary, time.perf_counter() - started, output)


def _finish(summary: dict[str, Any], elapsed: float, output: Path) -> int:
    summary["elapsed_seconds"] = round(elapsed, 1)
    summary["events_per_second"] = round(summary["events"] / elapsed, 1) if elapsed > 0 else None
    _print_summary(summary, output)
    sound = not any(summary["billing_audit"].values())
    return 0 if summary["trial_balance"]["balanced"] and not summary["daily_job_failures"] and sound else 1


def _run_with_progress(
    config: SimulationConfig,
    *,
    quiet: bool,
    make: Callable[[Callable[[int, int], None] | None], Simulation] | None = None,
) -> dict[str, Any]:
    def default(on_day: Callable[[int, int], None] | None) -> Simulation:
        return Simulation(config, on_day=on_day)

    make = make or default
    if quiet or not sys.stderr.isatty():
        return make(None).run()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("simulating days", total=config.days)
        return make(lambda done, _: progress.update(task, completed=done)).run()


def _print_summary(summary: dict[str, Any], output: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"simulation (seed {summary['seed']}, from {summary['start']}, {summary['days']} days)"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    declined = summary["authorizations_declined"]
    rows = [
        ("customers", summary["customers"]),
        ("applications", ", ".join(f"{k} {v}" for k, v in sorted(summary["applications"].items()))),
        ("open accounts", summary["approved_accounts"]),
        ("authorizations approved", summary["authorizations_approved"]),
        ("authorizations declined", ", ".join(f"{k} {v}" for k, v in declined.items()) or "0"),
        ("cleared volume", f"${summary['cleared_cents'] / 100:,.2f} in {summary['cleared_count']}"),
        ("refunds / reversals", f"{summary['refunds']} / {summary['reversals']}"),
        ("payments", ", ".join(f"{k} {v}" for k, v in sorted(summary["payments"].items())) or "0"),
        ("statements", summary["statements"]),
        ("late fees", summary["late_fees"]),
        ("delinquent accounts", summary["delinquent_accounts"]),
        ("trial balance", "balanced" if summary["trial_balance"]["balanced"] else "NOT BALANCED"),
        ("daily job failures", summary["daily_job_failures"] or "none"),
        (
            "billing audit (issue 20's rules)",
            ", ".join(f"{k} {v}" for k, v in summary["billing_audit"].items() if v) or "no violations",
        ),
        ("events", f"{summary['events']:,} ({summary['events_per_second']}/s)"),
        ("elapsed", f"{summary['elapsed_seconds']} s"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    Console().print(table)
    print(f"summary and ground truth in {output}")
