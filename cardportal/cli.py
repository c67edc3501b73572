"""The ``cardportal`` command: start, migrate and administer the platform."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import secrets
import signal
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from cardportal.settings import ConfigurationError, Settings, get_settings
from cardportal.stripe_emulator import emulator_url_file, start_for_api

if TYPE_CHECKING:
    pass

log = logging.getLogger("cardportal")


def _settings() -> Settings:
    try:
        return get_settings()
    except ConfigurationError as exc:
        sys.exit(f"cardportal: configuration error: {exc}")
    except Exception as exc:  # pydantic's ValidationError names the variable
        sys.exit(f"cardportal: configuration error: {exc}")


def _prepare(settings: Settings) -> str:
    """Database up, migrations applied, first admin present, the warehouse's fixed parts (the
    reader role, the empty registry) and, in sandbox, the reading logins the API and the
    dashboards read it as; the operational URL."""
    from cardportal import migrate
    from cardportal.bootstrap import ensure_first_admin
    from cardportal.database import resolve_databases
    from cardportal.warehouse import ensure_reader_logins, ensure_warehouse

    urls = resolve_databases(settings)
    migrate.upgrade(urls.operational)
    ensure_first_admin(settings, urls.operational)
    ensure_warehouse(urls.warehouse)
    ensure_reader_logins(
        settings, warehouse=urls.warehouse, dagster=urls.dagster, operational=urls.operational
    )
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


def sandbox_listen_refusal(settings: Settings, host: str | None) -> str | None:
    """Why sandbox mode may not listen on ``host``, or None. The sandbox serves fixed, public
    secrets (its network key, its admin password) and a clock anyone with the admin login can
    move: on anything but loopback a forgotten ``CARDPORTAL_ENV`` would publish them."""
    if host is None or settings.env != "sandbox" or settings.sandbox_listen_public:
        return None
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        pass  # a host name other than localhost: not known to be loopback
    return (
        f"sandbox mode listens on loopback only, not {host}: it serves public sandbox secrets "
        "and a movable clock. Set CARDPORTAL_ENV=production (with real secrets) for a real "
        "deployment, or SANDBOX_LISTEN_PUBLIC=1 to share a sandbox on a private network on purpose."
    )


def cmd_up(args: argparse.Namespace) -> int:
    from cardportal import dagster, demo
    from cardportal.database import resolve_databases
    from cardportal.supervisor import Supervisor

    settings = _settings()
    database_url = _prepare(settings)
    seed_demo = not args.no_demo and demo.needs_demo_data(settings, database_url)
    # A start stopped before the demo's partitions were materialized finishes them.
    resume = not seed_demo and not args.no_dagster and demo.pending_marker(settings).exists()
    emulator = start_for_api(settings, args.host, args.port)
    supervisor = Supervisor()
    try:
        extra = [f"  Stripe        {emulator.url}   (localstripe, webhooks registered)"] if emulator else []
        if web_dist := _web_dist():
            extra.append(f"  web app       http://{args.host}:{args.port}/app   ({web_dist})")
        dagster_url = None
        if not args.no_dagster:
            dagster_url = dagster.start(supervisor, settings, resolve_databases(settings), host=args.host)
            extra.append(f"  Dagster       {dagster_url}   (pipelines, checks, report files)")
        if not args.no_dashboards:
            from cardportal import dashboards

            dashboards_url = dashboards.start(
                supervisor, settings, resolve_databases(settings), host=args.host, api=_local_url(args)
            )
            extra.append(
                f"  Dashboards    {dashboards_url}   (reports; sign in as an analyst, finance or admin)"
            )
        if not args.no_dagster:
            from cardportal import docs

            docs_url = docs.start(supervisor, settings, resolve_databases(settings).warehouse, host=args.host)
            extra.append(f"  Data docs     {docs_url}   (dbt docs and Great Expectations Data Docs)")
        _banner(settings, args.host, args.port, extra)
        if seed_demo or resume:
            local_dagster = dagster_url and f"http://127.0.0.1:{settings.dagster_port}"
            demo.seed_in_background(settings, _local_url(args), dagster_url=local_dagster, simulate=seed_demo)
        _serve_api(settings, database_url, args.host, args.port, args.workers)
    finally:
        supervisor.stop()
        if emulator is not None:
            emulator.stop()
            emulator_url_file(settings).unlink(missing_ok=True)
    return 0


def _local_url(args: argparse.Namespace) -> str:
    """The API as this machine's other processes reach it (a wildcard address on loopback)."""
    local = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    return f"http://{local}:{args.port}"


def _web_dist() -> str | None:
    dist = Path(__file__).resolve().parent.parent / "web" / "dist" / "index.html"
    return "built from web/" if dist.exists() else None


def cmd_demo(args: argparse.Namespace) -> int:
    """Fresh sandbox in its own home, a simulated world, every partition of the data platform
    materialized (extracts, dbt build, checks, publish, report files), and a summary; exit 0 when
    the trial balance, every run and the reconciliation are good."""
    import os
    import tempfile
    import time

    from cardportal import demo
    from simulator.cli import api_in_process, free_port

    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="cardportal-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    # Its own embedded database and secrets, whatever the environment points at; the pipelines
    # read the same (their partitions reach into the sandbox clock's future).
    os.environ.update({"CARDPORTAL_ENV": "sandbox", "CARDPORTAL_HOME": str(home)})
    os.environ.pop("DATABASE_URL", None)
    settings = Settings(CARDPORTAL_ENV="sandbox", CARDPORTAL_HOME=str(home), DATABASE_URL=None)
    started = time.monotonic()
    database_url = _prepare(settings)
    port = free_port()
    emulator = start_for_api(settings, "127.0.0.1", port)
    try:
        with api_in_process(settings, database_url, port) as base_url:
            print(f"demo: sandbox in {home}; simulating {args.customers} customers over {args.days} days")
            summary, login = demo.run_simulation(
                settings, base_url, customers=args.customers, days=args.days, seed=args.seed
            )
    finally:
        if emulator is not None:
            emulator.stop()
    simulated = time.monotonic() - started
    balanced = summary["trial_balance"]["balanced"]
    print(
        f"demo: {summary['approved_accounts']} accounts, {summary['authorizations_approved']} purchases, "
        f"{summary['statements']} statements, {sum(summary['payments'].values())} payments, "
        f"{summary['late_fees']} late fees; trial balance {'balanced' if balanced else 'NOT balanced'} "
        f"({simulated:.0f} s)"
    )
    print(f"demo: summary and ground truth in {home / 'simulations' / f'seed{args.seed}'}")
    ok = bool(balanced)
    if not args.no_pipelines:
        ok = _demo_pipelines(settings, home) and ok
    if login:
        print(f"demo: a customer to sign in as: {login[0]} / {login[1]}")
    print(f"demo: {'done' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def _demo_pipelines(settings: Settings, home: Path) -> bool:
    """Every closed partition through the platform's jobs, in process; where the reports are."""
    import json
    import time

    from cardportal import demo
    from cardportal.database import resolve_databases
    from cardportal.warehouse import ensure_warehouse

    urls = resolve_databases(settings)
    ensure_warehouse(urls.warehouse)
    span = demo.closed_span(urls.operational, settings.pipelines_start_date)
    if span is None:
        print("demo: no closed business day to materialize", file=sys.stderr)
        return False
    print(
        f"demo: materializing {span.days} days ({span.first}..{span.last}), {len(span.weeks)} weeks and "
        f"{len(span.months)} months: extracts, dbt build, Great Expectations checks, publish, reports "
        "(Dagster jobs in this process, on an ephemeral instance)",
        flush=True,
    )
    started = time.monotonic()
    runs = demo.materialize_in_process(settings, urls, span)
    for run in runs:
        if run.job == "daily_job" or not run.success:
            print(
                f"  {run.job} {run.partitions}: "
                f"{'success' if run.success else 'FAILED'} ({run.seconds:.0f} s)"
            )
    print(f"demo: {len(runs)} runs in {time.monotonic() - started:.0f} s")
    figures = demo.warehouse_summary(urls.warehouse)
    marts = figures["marts"]
    print(
        "demo: marts: "
        + ", ".join(f"{name} {rows:,}" for name, rows in marts.items() if name.startswith(("fct_", "rpt_")))
    )
    differences = figures["reconciliation_differences"]
    print(
        "demo: ledger reconciliation: "
        + ("every day to the cent" if differences == 0 else f"{differences} days with a difference")
    )
    files = figures["report_files"]
    (home / "demo-summary.json").write_text(
        json.dumps({"runs": [vars(run) for run in runs], **figures}, indent=2, default=str) + "\n"
    )
    print(f"demo: report files in {home / 'reports'} (registered in reporting.report_files):")
    for kind, (count, size) in files.items():
        print(f"  {kind:14} {count:4} files  {size / 1024:8.0f} KiB")
    print(f"demo: figures in {home / 'demo-summary.json'}")
    return all(run.success for run in runs) and bool(files) and differences == 0


def cmd_api(args: argparse.Namespace) -> int:
    settings = _settings()
    database_url = _prepare(settings)
    print(f"cardportal API on http://{args.host}:{args.port} (docs at /docs)", flush=True)
    _serve_api(settings, database_url, args.host, args.port, args.workers)
    return 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    from cardportal import dashboards
    from cardportal.database import resolve_databases

    settings = _settings()
    host = args.dashboards_host or settings.api_host
    port = args.dashboards_port or settings.dashboards_port
    refusal = sandbox_listen_refusal(settings, host)
    if refusal:
        print(f"cardportal: {refusal}", file=sys.stderr)
        return 2
    print(f"cardportal dashboards on http://{host}:{port}", flush=True)
    return dashboards.run(settings, resolve_databases(settings), host=host, port=port)


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
    if user.role != "customer":
        # Issue 21, finding 7: staff need a second factor in production (API.md).
        when = (
            "required here" if settings.staff_mfa_required else "optional in sandbox, required in production"
        )
        print(
            f"second factor: {when}; they enrol a TOTP app at their first sign-in "
            "(the dashboards' enrolment page, or POST /v1/me/mfa/totp then /v1/me/mfa/totp/confirm)"
        )
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
        url_file = emulator_url_file(settings)
        if not url_file.exists():
            return False
        settings.stripe_api_base = url_file.read_text().strip()
    gateway.configure(gateway.build_client(settings))
    return True


def cmd_ops_run_day(args: argparse.Namespace) -> int:
    """The daily billing job for every day not yet run, through --date (default: yesterday)."""
    from api.clock import Clock
    from api.db import make_engine, make_sessionmaker
    from api.errors import AppError
    from api.jobs import daily as daily_job

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
        runs = daily_job.catch_up(make_sessionmaker(engine), clock, through=args.date)
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
        url_file = emulator_url_file(settings)
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
        if name == "up":
            p.add_argument("--no-dagster", action="store_true", help="the API without the data platform")
            p.add_argument("--no-dashboards", action="store_true", help="without the Streamlit dashboards")
        p.set_defaults(handler=handler)
        if name == "up":
            p.add_argument("--no-demo", action="store_true", help="do not seed a new sandbox with demo data")

    demo_parser = sub.add_parser("demo", help="one shot: a fresh sandbox, a simulated world, a summary")
    demo_parser.add_argument("--home", default=None, help="folder for the demo (default: a new temp folder)")
    # The same modest world as a new sandbox's demo data: well inside the 10-minute budget.
    demo_parser.add_argument("--customers", type=int, default=40)
    demo_parser.add_argument("--days", type=int, default=60)
    demo_parser.add_argument("--seed", type=int, default=42)
    demo_parser.add_argument(
        "--no-pipelines", action="store_true", help="simulate only; do not materialize the data platform"
    )
    demo_parser.set_defaults(handler=cmd_demo)

    dash = sub.add_parser("dashboards", help="the Streamlit dashboards alone (port 8501)")
    dash.add_argument("--host", dest="dashboards_host", default=None)
    dash.add_argument("--port", dest="dashboards_port", type=int, default=None)
    dash.set_defaults(handler=cmd_dashboards)

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
        for host in (args.host, getattr(args, "dashboards_host", None)):
            refusal = sandbox_listen_refusal(settings, host)
            if refusal:
                print(f"cardportal: {refusal}", file=sys.stderr)
                return 2
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
