"""A small HTTP client for the simulator: sessions per user, retries that a real app would do."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import httpx


class ApiError(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            body = {"detail": response.text[:200]}
        self.status = response.status_code
        self.code = body.get("code") if isinstance(body, dict) else None
        self.body = body
        super().__init__(f"{response.request.method} {response.request.url.path} -> {self.status} {body}")


class Api:
    """One connection pool for the whole run; thread-safe."""

    def __init__(self, base_url: str, *, network_key: str, run_tag: str, timeout: float = 60) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )
        self.network_key = network_key
        self.run_tag = run_tag
        self._keys = itertools.count(1)
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def idempotency_key(self, label: str) -> str:
        with self._lock:
            return f"{self.run_tag}-{label}-{next(self._keys)}"

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> Any:
        for attempt in range(8):
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                if attempt == 7:
                    raise
                time.sleep(0.2 * (attempt + 1))
                continue
            if response.status_code == 429:
                time.sleep(min(30.0, float(response.headers.get("retry-after", "1"))))
                continue
            if response.status_code in (502, 503):
                time.sleep(0.5 * (attempt + 1))
                continue
            if response.status_code not in expect:
                raise ApiError(response)
            if response.status_code == 204 or not response.content:
                return None
            return response.json()
        raise ApiError(response)

    def network(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"X-Network-Key": self.network_key, "Idempotency-Key": self.idempotency_key("net")}
        return self.request(method, path, headers=headers, **kwargs)


class UserSession:
    """A signed-in user; refreshes the access token when it expires."""

    def __init__(self, api: Api, email: str, password: str) -> None:
        self.api = api
        self.email = email
        self.password = password
        self._lock = threading.Lock()
        self.access_token = ""
        self.refresh_token = ""
        self.login()

    def login(self) -> None:
        tokens = self.api.request(
            "POST",
            "/v1/auth/token",
            data={"grant_type": "password", "username": self.email, "password": self.password},
        )
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]

    def _refresh(self) -> None:
        with self._lock:
            try:
                tokens = self.api.request(
                    "POST",
                    "/v1/auth/token",
                    data={"grant_type": "refresh_token", "refresh_token": self.refresh_token},
                )
            except ApiError:
                self.login()
                return
            self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]

    def call(self, method: str, path: str, *, idempotent: bool = False, **kwargs: Any) -> Any:
        extra = kwargs.pop("headers", {})
        key = self.api.idempotency_key("usr") if idempotent else None
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.access_token}", **extra}
            if key:
                headers["Idempotency-Key"] = key
            try:
                return self.api.request(method, path, headers=headers, **kwargs)
            except ApiError as error:
                if error.status == 401 and attempt == 0:
                    self._refresh()
                    continue
                raise
        raise AssertionError("unreachable")
