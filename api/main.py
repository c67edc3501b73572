"""create_app(): settings, database, gateway middleware, error handlers, routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, text

from api.accounts.router import router as accounts_router
from api.admin.router import router as admin_router
from api.applications.bureau import build_bureau
from api.applications.router import limits_router as credit_limits_router
from api.applications.router import router as applications_router
from api.audit.router import router as audit_router
from api.auth.mfa import secret_box as totp_secret_box
from api.auth.router import router as auth_router
from api.auth.security import TokenSettings
from api.auth.service import LoginPolicy
from api.auth.versions import TokenVersions
from api.billing.router import clock_router as sandbox_clock_router
from api.billing.router import router as billing_router
from api.cards.numbers import CardVault
from api.cards.router import router as cards_router
from api.clock import Clock
from api.db import StatementPools, make_engine, make_sessionmaker
from api.errors import install_handlers, problem_response, problem_responses
from api.gateway.access_log import AccessLogWriter
from api.gateway.idempotency import IdempotentReplay
from api.gateway.middleware import GatewayMiddleware
from api.gateway.ratelimit import RateLimiter
from api.network.lean import direct_routes
from api.network.router import router as network_router
from api.openapi_links import install as install_openapi_links
from api.payments import gateway as stripe_gateway
from api.payments.router import router as payments_router
from api.reports.router import router as reports_router
from api.webapp import mount_webapp
from cardportal.database import WAREHOUSE_DB, database_on_same_server, with_driver
from cardportal.settings import Settings, get_settings
from cardportal.warehouse import REPORTS_LOGIN, reader_connect_args, reader_url

API_DESCRIPTION = """
The operational API of cardportal: auth, applications, accounts, cards, the
card network, payments and reports. Errors are `application/problem+json`
(RFC 9457) with a stable `code`; lists are cursor-paginated, newest first;
POSTs that create or move money take an `Idempotency-Key`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    database_url: str | None = None,
    warehouse_url: str | None = None,
    warehouse_reader_url: str | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    if database_url is None or warehouse_url is None:
        from cardportal.database import resolve_databases

        if database_url is None:
            urls = resolve_databases(settings)
            database_url = urls.operational
            warehouse_url = warehouse_url or urls.warehouse
        else:
            warehouse_url = settings.warehouse_url or database_on_same_server(database_url, WAREHOUSE_DB)
    # The report endpoints read the warehouse as a login of their own, never as its owner
    # (issue 21, finding 3): WAREHOUSE_READER_URL, else the sandbox's cardportal_reports.
    assert warehouse_url is not None
    warehouse_reader_url = warehouse_reader_url or reader_url(
        settings, settings.warehouse_reader_url, owner_url=warehouse_url, login=REPORTS_LOGIN
    )

    engine = make_engine(database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    # The event loop's own connections (api.db): the network's messages (one autocommitted
    # statement each), the rate-limit counters and a customer's history page.
    statement_pools = StatementPools(database_url, max_size=settings.db_pool_size)
    token_versions = TokenVersions(engine)
    access_log = AccessLogWriter(settings.log_dir / "api")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        token_versions.start()
        app.state.clock.start()  # a sandbox's: every move heard at once (api.clock)
        async with statement_pools.serving():
            yield
        app.state.clock.stop()
        token_versions.stop()
        app.state.credit_bureau.close()
        access_log.close()
        engine.dispose()
        app.state.warehouse_engine.dispose()

    app = FastAPI(
        title="cardportal API",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # Any request may be malformed, too large or rate limited (the gateway answers those).
        responses=problem_responses(400, 413, 429),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.statement_pools = statement_pools
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.clock = Clock(
        movable=settings.env == "sandbox", engine=engine, cache_seconds=settings.clock_cache_seconds
    )
    app.state.token_versions = token_versions
    app.state.token_settings = TokenSettings(
        secret=settings.secret("jwt_secret"),
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        staff_access_ttl=timedelta(seconds=settings.staff_access_token_ttl_seconds),
    )
    app.state.login_policy = LoginPolicy(
        max_failures=settings.login_max_failures,
        lockout=timedelta(seconds=settings.login_lockout_seconds),
        staff_mfa_required=settings.staff_mfa_required,
        staff_idle_timeout=timedelta(seconds=settings.staff_idle_timeout_seconds),
    )
    app.state.rate_limiter = RateLimiter(
        settings.rate_limit_storage_uri,
        settings.rate_limit_per_ip,
        settings.rate_limit_per_user,
        settings.rate_limit_credentials_per_ip,
        engine=engine,
    )
    app.state.rate_limiter.use(statement_pools)
    app.state.access_log = access_log
    app.state.card_vault = CardVault(settings.secret("card_data_key"))
    # TOTP secrets at rest: the card numbers' scheme, under a key of their own purpose.
    app.state.totp_box = totp_secret_box(settings.secret("card_data_key"))
    # Underwriting's scores: the sandbox bureau, or the configured one (never the sandbox's
    # in production: the settings refuse it).
    app.state.credit_bureau = build_bureau(settings)
    app.state.stripe = stripe_gateway.build_client(settings)
    stripe_gateway.configure(app.state.stripe)
    # The warehouse, read by the reports' own login, in read-only transactions (report files).
    app.state.warehouse_engine = create_engine(
        with_driver(warehouse_reader_url, "psycopg"),
        pool_size=2,
        max_overflow=2,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args=reader_connect_args(),
    )
    app.state.warehouse_sessionmaker = make_sessionmaker(app.state.warehouse_engine)

    install_handlers(app)

    @app.exception_handler(IdempotentReplay)
    async def _replay(_request: Request, exc: IdempotentReplay) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status_code, headers={"Idempotent-Replayed": "true"})

    for router in (
        auth_router,
        applications_router,
        credit_limits_router,
        accounts_router,
        cards_router,
        network_router,
        payments_router,
        admin_router,
        audit_router,
        billing_router,
        sandbox_clock_router,
        reports_router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses=problem_responses(503))
    def readyz() -> JSONResponse:
        """Readiness: the database answers."""
        try:
            with engine.connect() as connection:
                connection.execute(text("select 1"))
        except Exception:
            return problem_response(
                503, "database_unavailable", "Service unavailable", "The database is not reachable."
            )
        return JSONResponse({"status": "ready", "database": "ok"})

    # Links between operations in /openapi.json (for clients and stateful fuzzing).
    install_openapi_links(app)

    # The customer web app at /app, when web/dist holds a build (`make web`).
    mount_webapp(app)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(
        GatewayMiddleware,
        access_log=access_log,
        rate_limiter=app.state.rate_limiter,
        max_body_bytes=settings.max_body_bytes,
        network_api_key=settings.secret("network_api_key"),
        rate_limit_exempt_ips=settings.rate_limit_exempt_ips,
        # The network's authorize, clear and reverse: well-formed messages answered by the
        # gateway itself (api.network.lean).
        direct_routes=direct_routes(network_router),
    )
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory api.main:app_factory`` (several workers)."""
    return create_app()
