"""The ``cardportal`` command: start, migrate and administer the platform."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from cardportal.settings import ConfigurationError, Settings, get_settings

if TYPE_CHECKING:
    from cardportal.stripe_emulator import Emulator

log = logging.getLogger("cardportal")


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        sys.exit(f"cardportal: configuration error: {exc}")
    except Exception as exc:  # pydantic's ValidationError names the variable
        sys.exit(f"cardportal: configuration error: {exc}")


def _prepare(settings: Settings) -> str:
    """Database up, migrations applied, first admin present; the operational URL."""
    from cardportal import migrate
    from cardportal.bootstrap import ensure_first_admin
    from cardportal.database import resolve_databases

    urls = resolve_databases(settings)
    migrate.upgrade(urls.operational)
    ensure_first_admin(settings, urls.operational)
    return urls.operational


def _exit_on_sigterm() -> None:
    """SIGTERM ends the process like Ctrl-C: through Python, so cleanup runs.

    uvicorn shuts down gracefully on SIGTERM, then re-raises it with the
    handler it found; with the default handler the process would die at once,
    skipping the atexit hooks that stop the embedded PostgreSQL and children.
    """

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _serve_api(settings: Settings, database_url: str, host: str, port: int, workers: int) -> None:
    import uvicorn

    _exit_on_sigterm()
    if workers > 1:
        # Each worker builds its own app (and joins the same embedded server).
        uvicorn.run(
            "api.main:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
        return
    from api.main import create_app

    app = create_app(settings, database_url=database_url)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _banner(settings: Settings, host: str, port: int, extra: Sequence[str] = ()) -> None:
    base = f"http://{host}:{port}"
    lines = [
        "",
        "cardportal is up",
        f"  API           {base}   (docs {base}/docs, health {base}/healthz)",
    ]
    if settings.env == "sandbox":
        lines += [
            f"  admin login   {settings.first_admin_email} / {settings.secret('first_admin_password')}",
            f"  network key   X-Network-Key: {settings.secret('network_api_key')}",
        ]
    elif settings.first_admin_email:
        lines.append(f"  admin login   {settings.first_admin_email} (password from FIRST_ADMIN_PASSWORD)")
    lines += [*extra, f"  home          {settings.home}", "  stop with Ctrl-C", ""]
    print("\n".join(lines), flush=True)


def _emulator_url_file(settings: Settings) -> Path:
    return settings.home / "run" / "stripe-emulator.url"


def _start_stripe_emulator(settings: Settings, host: str, port: int) -> Emulator | None:
    """In sandbox mode without STRIPE_API_BASE: localstripe as a child, the SDK pointed at it,
    and the API's webhook registered with it."""
    if settings.env != "sandbox" or settings.stripe_api_base:
        return None
    from cardportal import stripe_emulator

    emulator = stripe_emulator.start(
        stripe_emulator.free_port(), log_path=settings.log_dir / "localstripe.log"
    )
    settings.stripe_api_base = emulator.url
    os.environ["STRIPE_API_BASE"] = emulator.url  # for API workers started by uvicorn
    webhook_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    emulator.register_webhook(
        f"http://{webhook_host}:{port}/v1/webhooks/stripe", settings.secret("stripe_webhook_secret")
    )
    url_file = _emulator_url_file(settings)
    url_file.parent.mkdir(parents=True, exist_ok=True)
    url_file.write_text(emulator.url)
    return emulator


def cmd_up(args: argparse.Namespace) -> int:
    settings = _settings()
    database_url = _prepare(settings)
    emulator = _start_stripe_emulator(settings, args.host, args.port)
    try:
        extra = [f"  Stripe        {emulator.url}   (localstripe, webhooks registered)"] if emulator else []
        _banner(settings, args.host, args.port, extra)
        _serve_api(settings, database_url, args.host, args.port, args.workers)
    finally:
        if emulator is not None:
            emulator.stop()
            _emulator_url_file(settings).unlink(missing_ok=True)
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    settings = _settings()
    database_url = _prepare(settings)
    print(f"cardportal API on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    _serve_api(settings, database_url, args.host, args.port, args.workers)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from cardportal import migrate
    from cardportal.database import resolve_databases

    settings = _settings()
    url = resolve_databases(settings).operational
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
        print(migrate.current(url))
    elif args.action == "downgrade":
        migrate.downgrade(url, args.revision or "-1")
        print(migrate.current(url))
    else:
        print(migrate.current(url))
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from cardportal.bootstrap import create_user

    settings = _settings()
    url = _prepare(settings)
    password = args.password
    generated = False
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass("Password (blank for a generated one): ") or None
        if password is None:
            password = secrets.token_urlsafe(18)
            generated = True
    from api.errors import AppError

    try:
        user, created = create_user(
            url, email=args.email, password=password, full_name=args.full_name or args.email, role=args.role
        )
    except AppError as exc:  # a weak password, an invalid email: a message, not a traceback
        sys.exit(f"cardportal: {exc.detail}")
    if not created:
        print(f"{user.email} already exists ({user.id}, role {user.role}); role set to {args.role}")
        return 0
    print(f"created {user.email} ({user.id}) with role {user.role}")
    if generated:
        print(f"password: {password}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulator import cli as simulator_cli

    settings = _settings()
    problem = simulator_cli.validate(args)
    if problem:
        print(f"cardportal simulate: {problem}", file=sys.stderr)
        return 2
    database_url = _prepare(settings) if args.base_url is None else None
    return simulator_cli.run(settings, args, database_url)


def _stripe_for_ops(settings: Settings) -> bool:
    """Point the process's Stripe client where the API's points (in sandbox, the emulator that
    `cardportal up` started); False when there is none to point at."""
    from api.payments import gateway

    if settings.env == "sandbox" and not settings.stripe_api_base:
        url_file = _emulator_url_file(settings)
        if not url_file.exists():
            return False
        settings.stripe_api_base = url_file.read_text().strip()
    gateway.configure(gateway.build_client(settings))
    return True


def cmd_ops_run_day(args: argparse.Namespace) -> int:
    """The daily billing job for every day not yet run, through --date (default: yesterday)."""
    from api.billing import service as billing
    from api.clock import Clock
    from api.db import make_engine, make_sessionmaker
    from api.errors import AppError

    settings = _settings()
    url = _prepare(settings)
    if not _stripe_for_ops(settings):
        print(
            "cardportal: no Stripe emulator is running (start `cardportal up`, or set STRIPE_API_BASE): "
            "billing runs, autopay is counted as failed and reconciliation skipped",
            file=sys.stderr,
        )
    engine = make_engine(url, pool_size=2, max_overflow=2)
    try:
        clock = Clock(movable=settings.env == "sandbox", engine=engine, cache_seconds=0)
        runs = billing.catch_up(make_sessionmaker(engine), clock, through=args.date)
    except AppError as exc:
        print(f"cardportal: {exc.detail} ({exc.code})", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if not runs:
        print("nothing to run: every day through the date has run")
    for run in runs:
        counts = " ".join(f"{k}={v}" for k, v in run.counts.items() if k != "failed_accounts")
        print(f"{run.day} {'already run' if run.already_run else 'ran'}: {counts}")
    return 1 if any(run.counts.get("failed") for run in runs) else 0


def cmd_ops_reconcile_payments(args: argparse.Namespace) -> int:
    """Compare a day's Stripe PaymentIntents with the payments table and the ledger."""
    from datetime import date, timedelta

    from api.clock import Clock
    from api.db import make_engine, make_sessionmaker, session_scope
    from api.payments import gateway
    from api.payments.reconciliation import reconcile_payments

    settings = _settings()
    url = _prepare(settings)
    if settings.env == "sandbox" and not settings.stripe_api_base:
        url_file = _emulator_url_file(settings)
        if not url_file.exists():
            sys.exit(
                "cardportal: no Stripe emulator is running (start `cardportal up`, or set STRIPE_API_BASE)"
            )
        settings.stripe_api_base = url_file.read_text().strip()
    engine = make_engine(url, pool_size=2, max_overflow=0)
    now = Clock(movable=settings.env == "sandbox", engine=engine, cache_seconds=0).now()
    try:
        day = date.fromisoformat(args.date) if args.date else now.date() - timedelta(days=1)
    except ValueError:
        engine.dispose()
        sys.exit(f"cardportal: --date must be YYYY-MM-DD, not {args.date!r}")
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            result = reconcile_payments(session, day=day, now=now, client=gateway.build_client(settings))
    finally:
        engine.dispose()
    print(
        f"reconciled {day}: {result.intents_checked} PaymentIntents, {result.payments_checked} payments, "
        f"{len(result.mismatches)} mismatches ({result.recorded} newly recorded)"
    )
    for m in result.mismatches:
        print(f"  {m.kind:20} {m.stripe_id:30} expected={m.expected} actual={m.actual}  {m.detail}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardportal", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, handler, help_text in (
        ("up", cmd_up, "the whole platform on this machine"),
        ("api", cmd_api, "the API alone, migrations applied"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--host", default=None)
        p.add_argument("--port", type=int, default=None)
        p.add_argument("--workers", type=int, default=None)
        p.set_defaults(handler=handler)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", default=None)
    db.set_defaults(handler=cmd_db)

    simulate = sub.add_parser("simulate", help="drive a seeded synthetic world through the API")
    from simulator.cli import add_arguments

    add_arguments(simulate)
    simulate.set_defaults(handler=cmd_simulate)

    users = sub.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user with a role")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["customer", "analyst", "finance", "admin"])
    create.add_argument("--full-name", default=None)
    create.add_argument("--password", default=None, help="default: prompt, or generate and print")
    create.set_defaults(handler=cmd_users_create)

    ops = sub.add_parser("ops", help="operations")
    ops_sub = ops.add_subparsers(dest="ops_command", required=True)
    run_day = ops_sub.add_parser(
        "run-day", help="run the daily billing job for each day not yet run, oldest first, through --date"
    )
    run_day.add_argument(
        "--date",
        type=date.fromisoformat,
        default=None,
        help="YYYY-MM-DD, a day that is over (default: yesterday)",
    )
    run_day.set_defaults(handler=cmd_ops_run_day)
    reconcile = ops_sub.add_parser(
        "reconcile-payments", help="compare a day's Stripe PaymentIntents with the payments and the ledger"
    )
    reconcile.add_argument("--date", default=None, help="the UTC day, YYYY-MM-DD (default: yesterday)")
    reconcile.set_defaults(handler=cmd_ops_reconcile_payments)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if hasattr(args, "host"):
        settings = _settings()
        args.host = args.host or settings.api_host
        args.port = args.port or settings.api_port
        args.workers = args.workers or settings.api_workers
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
