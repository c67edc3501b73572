"""The simulator's HTTP client: one asyncio loop, keep-alive connections, sessions per user.

Why asyncio and aiohttp: the world's customers wait on the API nearly all the time, so many of
them are in flight at once, and the client's own CPU shares the machine with the API and
PostgreSQL. Client CPU per request, authorize-and-clear pairs against the bench's API, 8 in
flight (2026-12-06, two rounds, alternating): httpx in threads 626 and 848 µs, httpx's
``AsyncClient`` 1,445 and 1,634 µs, urllib3 in threads 363 and 442 µs, aiohttp 289 and 463 µs,
a raw asyncio stream client 136 and 143 µs. aiohttp is maintained (and was installed already,
through localstripe).

``Api`` runs its own event loop in a thread: the engine's threads call :meth:`Api.run` with a
coroutine and wait for its answer, so that a transport call of several requests (a customer's
purchases of a day, the summary's reads) is one hand-off between threads.

Exceptions: ``ApiError`` (an answer the caller did not expect; ``status``, ``code``, ``body``).
Transport errors are retried (8 attempts), as are 429 (after ``Retry-After``), 502 and 503.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            body = {"detail": payload[:200].decode(errors="replace")}
        self.status = status
        self.code = body.get("code") if isinstance(body, dict) else None
        self.body = body
        super().__init__(f"{method} {path} -> {status} {body}")


class Api:
    """One pool of keep-alive connections for the whole run, on the client's own event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        network_key: str,
        run_tag: str,
        timeout: float = 60,
        connections: int = 64,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.network_key = network_key
        self.run_tag = run_tag
        self._keys = itertools.count(1)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="simulator-http", daemon=True)
        self._thread.start()

        async def session() -> aiohttp.ClientSession:
            return aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=connections),
                timeout=aiohttp.ClientTimeout(total=timeout),
            )

        self.http = self.run(session())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the client's loop; its result (from any thread but the loop's)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self.run(self.http.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def idempotency_key(self, label: str) -> str:
        with self._lock:
            return f"{self.run_tag}-{label}-{next(self._keys)}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        json: Any = None,
        data: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        url = self.base_url + path
        status, payload = 0, b""
        for attempt in range(8):
            try:
                async with self.http.request(
                    method, url, headers=headers, json=json, data=data, params=params
                ) as response:
                    status, payload = response.status, await response.read()
                    retry_after = response.headers.get("retry-after", "1")
            except (TimeoutError, aiohttp.ClientConnectionError):
                if attempt == 7:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if status == 429:
                await asyncio.sleep(min(30.0, float(retry_after)))
                continue
            if status in (502, 503):
                await asyncio.sleep(0.5 * (attempt + 1))
                continue
            if status not in expect:
                raise ApiError(method, path, status, payload)
            if status == 204 or not payload:
                return None
            return _loads(payload)
        raise ApiError(method, path, status, payload)

    async def network(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Network-Key": self.network_key, "Idempotency-Key": self.idempotency_key("net")}
        return await self.request(method, path, headers=headers, **kwargs)


class UserSession:
    """A signed-in user (:meth:`signed_in`); refreshes the access token when it expires."""

    def __init__(self, api: Api, email: str, password: str) -> None:
        self.api = api
        self.email = email
        self.password = password
        self._refreshing = asyncio.Lock()
        self.access_token = ""
        self.refresh_token = ""

    @classmethod
    async def signed_in(cls, api: Api, email: str, password: str) -> UserSession:
        session = cls(api, email, password)
        await session.login()
        return session

    async def login(self) -> None:
        tokens = await self.api.request(
            "POST",
            "/v1/auth/token",
            data={"grant_type": "password", "username": self.email, "password": self.password},
        )
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]

    async def _refresh(self, expired: str) -> None:
        async with self._refreshing:
            if self.access_token != expired:
                return  # another call of this user's renewed it meanwhile
            try:
                tokens = await self.api.request(
                    "POST",
                    "/v1/auth/token",
                    data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
                )
            except ApiError:
                await self.login()
                return
            self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]

    async def call(self, method: str, path: str, *, idempotent: bool = False, **kwargs: Any) -> Any:
        extra = kwargs.pop("headers", {})
        key = self.api.idempotency_key("usr") if idempotent else None
        for attempt in range(2):
            token = self.access_token
            headers = {"Authorization": f"Bearer {token}", **extra}
            if key:
                headers["Idempotency-Key"] = key
            try:
                return await self.api.request(method, path, headers=headers, **kwargs)
            except ApiError as error:
                if error.status == 401 and attempt == 0:
                    await self._refresh(token)
                    continue
                raise
        raise AssertionError("unreachable")


def _loads(payload: bytes) -> Any:
    return json.loads(payload)
