"""The exception tree, and its one rendering as RFC 9457 problem+json.

    AppError                      status, code, title, detail, headers, extra
    ├── BadRequest                400
    ├── Unauthorized              401  (WWW-Authenticate: Bearer)
    ├── Forbidden                 403
    ├── NotFound                  404
    ├── Conflict                  409
    ├── PayloadTooLarge           413
    ├── UnprocessableEntity       422
    └── TooManyRequests           429  (Retry-After)

Services raise these with a stable machine ``code``; they never see HTTP.
Validation errors, unknown routes and wrong methods are mapped to the same
shape here, and anything unexpected becomes a 500 with no stack trace.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("cardportal.errors")

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"
    # When True, the request's writes are committed even though it answers with
    # this error (a failed login must still count towards the lockout).
    keep_changes: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        keep_changes: bool | None = None,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.title
        if keep_changes is not None:
            self.keep_changes = keep_changes
        if code is not None:
            self.code = code
        if title is not None:
            self.title = title
        self.headers = headers or {}
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(AppError):
    status, code, title = 400, "bad_request", "Bad request"


class Unauthorized(AppError):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(AppError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnprocessableEntity(AppError):
    status, code, title = 422, "unprocessable_entity", "Unprocessable entity"


class TooManyRequests(AppError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        retry_after = max(1, int(retry_after))
        kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail, retry_after=retry_after, **kwargs)


class Problem(BaseModel):
    """The problem+json shape, for the OpenAPI document (answers are built by ``problem_body``)."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str
    title: str
    status: int
    detail: str
    code: str


_PROBLEM_DESCRIPTIONS = {
    400: "Bad input (`malformed_json`, `invalid_cursor`, `invalid_idempotency_key`, ...)",
    401: "No or bad credentials (`not_authenticated`, `invalid_token`, `token_expired`)",
    403: (
        "The caller's role may not do this (`insufficient_role`), or a staff token may only enrol "
        "a second factor (`mfa_enrolment_required`)"
    ),
    404: "Nothing the caller may see (`not_found`, ...)",
    409: "A state conflict (`idempotency_key_in_use`, ...)",
    413: "The body is over the limit (`payload_too_large`)",
    422: "Invalid fields (`validation_error`, `idempotency_key_reused`, ...)",
    429: "Rate limited (`rate_limited`, `login_locked`); retry after `Retry-After` seconds",
    503: "A dependency is unavailable (`database_unavailable`)",
}


def problem_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for problem+json answers: ``problem_responses(401, 404, s409="email_taken")``."""
    schema = Problem.model_json_schema()
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": descriptions.get(f"s{status}", _PROBLEM_DESCRIPTIONS.get(status, "Error")),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
        responses[status] = response
    return responses


def problem_body(
    status: int, code: str, title: str, detail: str, request: Request | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://docs.cardportal.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    request: Request | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    if request is not None:
        request.state.error_code = code
    return JSONResponse(
        problem_body(status, code, title, detail, request, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for error in exc.errors():
        fields.append(
            {
                "loc": [str(part) for part in error.get("loc", ())],
                "msg": str(error.get("msg", "")),
                "type": str(error.get("type", "")),
            }
        )
    return fields


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on this path (a route matches FULL only on its methods)."""
    from starlette.routing import Match

    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            exc.status, exc.code, exc.title, exc.detail, request, exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                400,
                "malformed_json",
                "Malformed JSON",
                "The request body is not valid JSON.",
                request,
                errors=errors,
            )
        key_errors = [e for e in errors if e["loc"] == ["header", "Idempotency-Key"]]
        if any(e["type"] == "missing" for e in key_errors):
            return problem_response(
                400,
                "idempotency_key_required",
                "Bad request",
                "This request moves money or creates a resource: send an Idempotency-Key header.",
                request,
            )
        if key_errors:
            return problem_response(
                400,
                "invalid_idempotency_key",
                "Bad request",
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
                request,
            )
        fields = sorted({".".join(e["loc"][1:]) or e["loc"][0] for e in errors if e["loc"]})
        return problem_response(
            422,
            "validation_error",
            "Validation failed",
            "Invalid fields: " + ", ".join(fields) if fields else "The request is invalid.",
            request,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        code = _HTTP_CODES.get(status, f"http_{status}")
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = exc.detail if isinstance(exc.detail, str) else title
        if status == 404 and detail == "Not Found":
            detail = f"No route matches {request.method} {request.url.path}."
        headers = dict(exc.headers or {})
        if status == 405:
            detail = f"{request.method} is not allowed on {request.url.path}."
            # Starlette names only the methods of the last route it tried; RFC 9110 wants all.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(status, code, title, detail, request, headers)

    # Unexpected exceptions are turned into a 500 problem by the gateway middleware,
    # which also stamps the request id on it (see api.gateway.middleware).
