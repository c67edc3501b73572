"""The ``cardportal`` command: start, migrate and administer the platform."""

from __future__ import annotations

import argparse
import getpass
import logging
import secrets
import signal
import sys
from collections.abc import Sequence

from cardportal.settings import ConfigurationError, Settings, get_settings

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


def _banner(
    settings: Settings,
    host: str,
    port: int,
    dagster_url: str | None = None,
    dashboards_url: str | None = None,
) -> None:
    base = f"http://{host}:{port}"
    lines = [
        "",
        "cardportal is up",
        f"  API           {base}   (docs {base}/docs, health {base}/healthz)",
    ]
    if dagster_url:
        lines.append(f"  Dagster       {dagster_url}   (pipelines, checks, report files)")
    if dashboards_url:
        lines.append(f"  Dashboards    {dashboards_url}   (daily, weekly, monthly reports)")
    if settings.env == "sandbox":
        lines += [
            f"  admin login   {settings.first_admin_email} / {settings.secret('first_admin_password')}",
            f"  network key   X-Network-Key: {settings.secret('network_api_key')}",
        ]
    elif settings.first_admin_email:
        lines.append(f"  admin login   {settings.first_admin_email} (password from FIRST_ADMIN_PASSWORD)")
    lines += [f"  home          {settings.home}", "  stop with Ctrl-C", ""]
    print("\n".join(lines), flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    from cardportal import dagster
    from cardportal.database import resolve_databases
    from cardportal.supervisor import Supervisor

    settings = _settings()
    database_url = _prepare(settings)
    supervisor = Supervisor()
    try:
        dagster_url = None
        if not args.no_dagster:
            dagster_url = dagster.start(supervisor, settings, resolve_databases(settings), host=args.host)
        dashboards_url = None
        if not args.no_dashboards:
            from cardportal import dashboards

            dashboards_url = dashboards.start(
                supervisor, settings, resolve_databases(settings), host=args.host
            )
        _banner(settings, args.host, args.port, dagster_url, dashboards_url)
        _serve_api(settings, database_url, args.host, args.port, args.workers)
    finally:
        supervisor.stop()
    return 0


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
    user, created = create_user(
        url, email=args.email, password=password, full_name=args.full_name or args.email, role=args.role
    )
    if not created:
        print(f"{user.email} already exists ({user.id}, role {user.role}); role set to {args.role}")
        return 0
    print(f"created {user.email} ({user.id}) with role {user.role}")
    if generated:
        print(f"password: {password}")
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

    dash = sub.add_parser("dashboards", help="the Streamlit dashboards alone (port 8501)")
    dash.add_argument("--host", dest="dashboards_host", default=None)
    dash.add_argument("--port", dest="dashboards_port", type=int, default=None)
    dash.set_defaults(handler=cmd_dashboards)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", default=None)
    db.set_defaults(handler=cmd_db)

    users = sub.add_parser("users", help="manage users")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="create a user with a role")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=["customer", "analyst", "finance", "admin"])
    create.add_argument("--full-name", default=None)
    create.add_argument("--password", default=None, help="default: prompt, or generate and print")
    create.set_defaults(handler=cmd_users_create)
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
