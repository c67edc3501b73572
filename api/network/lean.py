"""The network's well-formed messages, answered below FastAPI's routing and dependency system.

The network is a machine caller that sends the same few well-formed messages all day;
for each, FastAPI's dependency solving (the network key, the clock, the key's
dependency, the body's validation) cost more of the API's CPU than the route's own
work (a py-spy profile under the authorize load: ~18 % of the worker's GIL time in
``solve_dependencies``), and the routing and request wrapping around it about as much
again. So each hot route has a lean reader (``LEAN``), and the gateway calls it directly
for a request the route matches (``direct_routes``, ``api.gateway.middleware``). A reader
checks what the dependencies check, with the same functions where they are ours
(``network_caller``, ``request_fingerprint``, the key's ``_pending`` rules, the schema's
validation as FastAPI runs it: ``json.loads`` then ``model_validate``), and calls the same
code the route calls. Anything not plainly right (no or a wrong network key, a key header
that breaks its rules, a body that is not ``application/json`` or not valid, a malformed
id) makes the reader give up before any I/O, and the request goes through the app and
FastAPI's own handler answers as it always did: every 4xx stays FastAPI's. The routes, their
parameters and so the OpenAPI document are unchanged; the gateway's own work (request id,
limits, headers, access log) is the same for both paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.deps import network_caller
from api.errors import AppError
from api.gateway.idempotency import PendingIdempotency, pending_of_request, request_fingerprint
from api.ids import ID_PATTERN

M = TypeVar("M", bound=BaseModel)
# What a route's lean reader answers: a response, or None for FastAPI's handler to answer.
LeanReader = Callable[[Request], Awaitable[Response | None]]
# A route's endpoint → its lean reader (``api.network.router`` fills it in).
LEAN: dict[Callable[..., Any], LeanReader] = {}

# api.ids.PathId's rule.
_PATH_ID = re.compile(ID_PATTERN)


def direct_routes(router: APIRouter) -> list[tuple[APIRoute, LeanReader]]:
    """The router's routes that have a lean reader, each with it, for the gateway
    (``GatewayMiddleware(direct_routes=...)``). The reader is looked up in ``LEAN`` at each
    call, so one replaced there (the tests count the calls) is the one called."""

    def reader_of(endpoint: Callable[..., Any]) -> LeanReader:
        async def read(request: Request) -> Response | None:
            return await LEAN[endpoint](request)

        return read

    return [
        (route, reader_of(route.endpoint))
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint in LEAN
    ]


async def machine_caller(request: Request) -> PendingIdempotency | None:
    """The network's key checked and its Idempotency-Key taken, as the route's dependencies
    would (``network_caller``, ``NetworkIdempotency``); None when either would refuse."""
    try:
        scope = await network_caller(request, request.headers.get("x-network-key"))
        return pending_of_request(request, await request_fingerprint(request), scope)
    except AppError:
        return None


async def json_body(request: Request, model: type[M]) -> M | None:
    """The body as FastAPI validates a JSON body parameter (``json.loads``, then the model in
    Python mode); None for anything else (its content type, bad JSON, a validation error)."""
    if request.headers.get("content-type") != "application/json":
        return None
    try:
        return model.model_validate(json.loads(await request.body()))
    except (ValueError, RecursionError):  # JSON, Unicode and validation errors are ValueErrors
        return None


def path_id(request: Request) -> str | None:
    """The route's ``{id}``, when ``PathId`` accepts it."""
    value = request.path_params.get("id")
    return value if isinstance(value, str) and _PATH_ID.fullmatch(value) else None
