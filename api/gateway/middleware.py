"""The outermost ASGI layer: one pass over every HTTP request.

In order: assign the request id; refuse bodies over the limit (413, also for
chunked bodies with no length, by reading at most limit+1 bytes before the
app runs); apply the per-IP rate limit, and the tight per-IP limit of the
endpoints that hash a password (429 with ``Retry-After``, before any argon2
work), counting the per-user limit of a valid bearer token in the same call
to the store (its verdict is left in ``state["user_limit"]`` for
``api.deps.current_principal``, which answers 429 after the token's other
checks); answer a direct route's well-formed request itself (below), or else run the app;
add ``X-Request-ID`` and the security headers; turn an unexpected crash into a problem+json
500 without a trace; write one access-log line.

Direct routes (``direct_routes``: the card network's authorize, clear and reverse, from
``api.network.lean``) are the machine callers' hot routes. For a request one of them matches,
the gateway calls the route's reader itself, below the app's routing, its exception layer and
FastAPI's request wrapping (a py-spy profile under the ``authorize`` load: about a quarter of
the API's CPU per message). The reader answers only a request that is plainly right, by the
route's own checks and code; an error it raises goes to the app's handler for it, as in the
app. When the reader gives up (None), or the request carries an ``Origin`` (CORS is the app's),
the request goes through the app as any other. Everything above stays the same for both:
request id, limits, headers, the access log (its ``route`` is the matched route's).
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import re
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth.security import access_tokens
from api.errors import PROBLEM_JSON, AppError, problem_body
from api.gateway.access_log import AccessLogWriter
from api.gateway.ratelimit import RateLimiter

log = logging.getLogger("cardportal.gateway")


def log_unhandled(exc: BaseException, method: Any, path: Any) -> None:
    """Log a crash. A database error is logged by its SQLSTATE, its class and its statement, with
    the stack but without its message: PostgreSQL's message quotes the value it refused
    (``invalid input syntax for type integer: "<the value>"``), and a value can be personal
    data. The engine already hides bound parameters (``api.db.make_engine``)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        frames = "".join(traceback.format_tb(exc.__traceback__))
        log.error(
            "unhandled database error on %s %s: %s (SQLSTATE %s) in [%s]\n%s",
            method,
            path,
            type(exc.orig).__name__,
            sqlstate,
            exc.statement,
            frames,
        )
        return
    log.exception("unhandled error on %s %s", method, path, exc_info=exc)


# The endpoints that hash a password (argon2, ~50 ms of CPU each): their own, tight limit.
CREDENTIAL_PATHS = frozenset({"/v1/auth/token", "/v1/auth/register"})


def _costs_a_password_hash(scope: Scope, headers: dict[str, str], body: bytes) -> bool:
    """A registration or a token request other than a refresh grant (which costs a SHA-256,
    and which a web app sends every 15 minutes per user: a shared address must not run out)."""
    if scope.get("method") != "POST" or scope.get("path") not in CREDENTIAL_PATHS:
        return False
    if scope["path"] == "/v1/auth/token" and headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        try:
            fields = parse_qs(body.decode("latin-1"), max_num_fields=16)
        except ValueError:  # too many fields: the route refuses it, after counting it here
            return True
        return fields.get("grant_type") != ["refresh_token"]
    return True


# A direct route's reader: its response to a request the route matched, or None to hand the
# request to the app.
DirectReader = Callable[[Request], Awaitable[Response | None]]

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access_log: AccessLogWriter,
        rate_limiter: RateLimiter,
        max_body_bytes: int,
        network_api_key: str,
        rate_limit_exempt_ips: list[str] | None = None,
        direct_routes: Sequence[tuple[BaseRoute, DirectReader]] = (),
    ) -> None:
        self.app = app
        self.access_log = access_log
        self.rate_limiter = rate_limiter
        self.max_body_bytes = max_body_bytes
        self._network_key = network_api_key.encode()
        self._exempt_ips = set(rate_limit_exempt_ips or [])
        self._direct = list(direct_routes)
        self._direct_methods = {m for route, _ in self._direct for m in getattr(route, "methods", None) or ()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        headers = _headers(scope)
        request_id = headers.get("x-request-id", "")
        if not _REQUEST_ID_OK.match(request_id):
            request_id = uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        client_ip = scope["client"][0] if scope.get("client") else None

        outcome = {"status": 500, "bytes_out": 0, "started": False}
        bytes_in = 0

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
                outcome["started"] = True
                raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                raw.append((b"x-request-id", request_id.encode()))
                raw.append((b"x-content-type-options", b"nosniff"))
                raw.append((b"referrer-policy", b"no-referrer"))
                if b"authorization" in scope_header_names or state.get("user_id"):
                    raw = [(k, v) for k, v in raw if k.lower() != b"cache-control"]
                    raw.append((b"cache-control", b"no-store"))
                message["headers"] = raw
            elif message["type"] == "http.response.body":
                outcome["bytes_out"] += len(message.get("body", b""))
            await send(message)

        scope_header_names = {k.lower() for k, _ in scope.get("headers", [])}

        try:
            body_or_error = await self._read_body(headers, receive)
            if isinstance(body_or_error, int):
                bytes_in = body_or_error
                await self._problem(
                    send_wrapper,
                    state,
                    413,
                    "payload_too_large",
                    "Payload too large",
                    f"The request body is larger than {self.max_body_bytes} bytes.",
                )
                return
            body = body_or_error
            bytes_in = len(body)

            limited_ip = client_ip if client_ip and not self._exempt(client_ip, headers) else None
            user_id = _bearer_user(scope, headers)
            if limited_ip is not None or user_id is not None:
                credentials = limited_ip is not None and _costs_a_password_hash(scope, headers, body)
                # A round trip to PostgreSQL (on the loop's own connections) or Redis.
                verdict = await self.rate_limiter.check_async(
                    ip=limited_ip, credentials=credentials, user_id=user_id
                )
                if user_id is not None:
                    state["user_limit"] = (user_id, verdict.user_retry_after)
                retry_after = verdict.ip_retry_after
                if retry_after is not None:
                    await self._problem(
                        send_wrapper,
                        state,
                        429,
                        "rate_limited",
                        "Too many requests",
                        "Too many requests from this address; retry later.",
                        {"retry-after": str(retry_after)},
                        retry_after=retry_after,
                    )
                    return

            if scope["method"] in self._direct_methods and "origin" not in headers:
                if await self._answer_directly(scope, body, receive, send_wrapper):
                    return
            await self.app(scope, _replay(body, receive), send_wrapper)
        except Exception as exc:
            log_unhandled(exc, scope.get("method"), scope.get("path"))
            if not outcome["started"]:
                await self._problem(
                    send_wrapper,
                    state,
                    500,
                    "internal_error",
                    "Internal server error",
                    "An unexpected error occurred.",
                )
        finally:
            route = scope.get("route")
            self.access_log.write(
                {
                    "request_id": request_id,
                    "method": scope.get("method"),
                    "route": getattr(route, "path", None),
                    "path": scope.get("path"),
                    "status": outcome["status"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "user_id": state.get("user_id"),
                    "role": state.get("role"),
                    "client_ip": client_ip,
                    "bytes_in": bytes_in,
                    "bytes_out": outcome["bytes_out"],
                    "error_code": state.get("error_code"),
                }
            )

    def _exempt(self, client_ip: str, headers: dict[str, str]) -> bool:
        if client_ip in self._exempt_ips:
            return True
        # The card network is a machine caller with its own contract; its key,
        # when valid, lifts the per-IP limit (it is checked again by the route).
        offered = headers.get("x-network-key")
        return offered is not None and hmac.compare_digest(offered.encode(), self._network_key)

    async def _answer_directly(self, scope: Scope, body: bytes, receive: Receive, send: Send) -> bool:
        """Whether a direct route matched the request and its reader answered it (see the
        module's docstring)."""
        matched = self._match_direct(scope)
        if matched is None:
            return False
        route, reader, child_scope = matched
        scope.update(child_scope)
        scope["route"] = route
        request = Request(scope, _replay(body, receive))
        try:
            response = await reader(request)
        except Exception as exc:
            handler = _exception_handler(scope["app"], exc)
            if handler is None:
                raise
            if inspect.iscoroutinefunction(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
        if response is None:
            return False
        await response(scope, receive, send)
        return True

    def _match_direct(self, scope: Scope) -> tuple[BaseRoute, DirectReader, Scope] | None:
        for route, reader in self._direct:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, reader, child_scope
        return None

    async def _read_body(self, headers: dict[str, str], receive: Receive) -> bytes | int:
        """The whole body, or the byte count read when it exceeds the limit."""
        declared = headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body_bytes:
                    return int(declared)
            except ValueError:
                pass
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return size
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _problem(
        self,
        send: Send,
        state: dict[str, Any],
        status: int,
        code: str,
        title: str,
        detail: str,
        extra_headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        state["error_code"] = code
        body = json.dumps(
            problem_body(status, code, title, detail, request_id=state["request_id"], **extra)
        ).encode()
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
        for key, value in (extra_headers or {}).items():
            headers.append((key.encode(), value.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _bearer_user(scope: Scope, headers: dict[str, str]) -> str | None:
    """The user of a valid bearer token (verified once per token, ``api.auth.security``), else
    None: a missing or refused token is the route's to answer (401), not the gateway's."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or "app" not in scope:
        return None
    try:
        return access_tokens(scope["app"].state).principal(token).user_id
    except AppError:
        return None


def _exception_handler(app: Any, exc: Exception) -> Callable[..., Any] | None:
    """The app's handler for ``exc`` (its class's, or its nearest base's), as the app's
    exception layer finds it; None for a crash (``Exception`` is the server-error layer's)."""
    handlers = getattr(app, "exception_handlers", {})
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            handler: Callable[..., Any] = handlers[cls]
            return handler
    return None


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _replay(body: bytes, upstream: Receive) -> Receive:
    """A receive channel that hands the buffered body to the app once."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, the app only ever waits for the client to go away.
        return await upstream()

    return receive
