"""A lean load client: raw HTTP/1.1 keep-alive over asyncio streams (uvloop when present).

httpx costs ~4 ms of CPU per request on these machines and caps a client
at ~250 requests/s; this client writes pre-built request bytes and parses
only the status line, the headers it needs and the body, so on 2 cores the
server, not the client, is the limit.

A *scenario* is an async callable given a :class:`Connection` (and the
index of its virtual user); each call is one operation (one request, or a
sequence such as authorize then clear). :func:`run_load` runs ``concurrency``
connections in a closed loop for ``seconds`` after a warm-up and returns the
operations' count, rate and latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


class HttpError(RuntimeError):
    """A response the scenario did not expect."""


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host.encode()
        self.statuses: Counter[int] = Counter()

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, host)

    def close(self) -> None:
        self.writer.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        json_body: Any = None,
    ) -> tuple[int, bytes]:
        """Send one request and read its answer: (status, body)."""
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}".encode())
        if body is not None:
            if json_body is not None:
                lines.append(b"Content-Type: application/json")
            lines.append(b"Content-Length: " + str(len(body)).encode())
        self.writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + (body or b""))
        status, payload = await self._read_response()
        self.statuses[status] += 1
        return status, payload

    async def _read_response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, rest = head.partition(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = -1
        chunked = False
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            return status, b"".join(parts)
        if length < 0:
            raise HttpError("a response with neither Content-Length nor chunked encoding")
        return status, await self.reader.readexactly(length)

    async def expect(self, status: int, method: str, path: str, **kwargs: Any) -> Any:
        """A request whose answer must have ``status``; its JSON body."""
        got, payload = await self.request(method, path, **kwargs)
        if got != status:
            raise HttpError(f"{method} {path}: {got} {payload[:300]!r}")
        return json.loads(payload) if payload else None


Scenario = Callable[[Connection, int], Awaitable[None]]


@dataclass
class LoadResult:
    operations: int
    seconds: float
    errors: int
    latencies_ms: list[float] = field(repr=False)
    statuses: dict[int, int]
    first_error: str | None = None

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=1000, method="inclusive")[int(q * 1000) - 1]

    @property
    def p50(self) -> float:
        return self.percentile(0.5)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


async def _run(
    host: str, port: int, scenario: Scenario, *, concurrency: int, seconds: float, warmup: float
) -> LoadResult:
    connections = [await Connection.open(host, port) for _ in range(concurrency)]
    start = time.perf_counter()
    measure_from = start + warmup
    deadline = measure_from + seconds
    latencies: list[float] = []
    operations = 0
    errors = 0
    first_error: list[str] = []

    async def user(index: int, connection: Connection) -> None:
        nonlocal operations, errors
        while True:
            began = time.perf_counter()
            if began >= deadline:
                return
            try:
                await scenario(connection, index)
            except (HttpError, asyncio.IncompleteReadError, ConnectionError) as exc:
                errors += 1
                if not first_error:
                    first_error.append(str(exc))
                if not isinstance(exc, HttpError):
                    connection.close()
                    connection = await Connection.open(host, port)
                    connections[index] = connection
                continue
            ended = time.perf_counter()
            if began >= measure_from and ended <= deadline:
                operations += 1
                latencies.append((ended - began) * 1000)

    try:
        await asyncio.gather(*(user(i, c) for i, c in enumerate(connections)))
    finally:
        for connection in connections:
            connection.close()
    statuses: Counter[int] = Counter()
    for connection in connections:
        statuses.update(connection.statuses)
    return LoadResult(
        operations=operations,
        seconds=seconds,
        errors=errors,
        latencies_ms=latencies,
        statuses=dict(statuses),
        first_error=first_error[0] if first_error else None,
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()


def run_load(
    host: str,
    port: int,
    scenario: Scenario,
    *,
    concurrency: int,
    seconds: float,
    warmup: float = 1.0,
) -> LoadResult:
    """Drive ``scenario`` on ``concurrency`` connections for ``seconds`` (after ``warmup``)."""
    loop = _new_loop()
    try:
        return loop.run_until_complete(
            _run(host, port, scenario, concurrency=concurrency, seconds=seconds, warmup=warmup)
        )
    finally:
        loop.close()


def call(host: str, port: int, scenario: Callable[[Connection], Awaitable[Any]]) -> Any:
    """Run one scenario once on a fresh connection (set-up requests)."""

    async def once() -> Any:
        connection = await Connection.open(host, port)
        try:
            return await scenario(connection)
        finally:
            connection.close()

    loop = _new_loop()
    try:
        return loop.run_until_complete(once())
    finally:
        loop.close()
