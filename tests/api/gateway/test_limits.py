"""413 for bodies over 1 MiB (with a length, and chunked without one), 429 per IP and per user."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.main import create_app
from tests.conftest import count_rows, make_settings, problem
from tests.factories import PASSWORD, customer, register

LIMIT = 1024 * 1024


def test_a_body_over_one_mib_with_a_length_is_a_413(api: TestClient, engine: Engine) -> None:
    response = api.post(
        "/v1/auth/register", content=b"{" + b" " * LIMIT + b"}", headers={"Content-Type": "application/json"}
    )
    body = problem(response, 413, "payload_too_large")
    assert str(LIMIT) in body["detail"]
    assert count_rows(engine, "users") == 0


def test_a_chunked_body_over_one_mib_is_a_413(api: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * (64 * 1024)

    response = api.post("/v1/auth/register", content=chunks(), headers={"Content-Type": "application/json"})
    problem(response, 413, "payload_too_large")


def test_a_body_of_exactly_one_mib_is_read(api: TestClient) -> None:
    raw = b'{"email": "big@example.com", "password": "correct horse battery", "full_name": "B"}'
    padded = raw[:-1] + b" " * (LIMIT - len(raw)) + b"}"
    assert len(padded) == LIMIT
    response = api.post("/v1/auth/register", content=padded, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


@pytest.fixture
def live_url(tmp_path: Path, database_url: str, engine: Engine) -> Iterator[str]:
    """The app behind a real uvicorn on a free port, for raw HTTP/1.1."""
    app = create_app(make_settings(tmp_path), database_url=database_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _raw_exchange(address: str, head: bytes, chunks: list[bytes]) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head)
        try:
            for chunk in chunks:
                conn.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + 50:
            part = conn.recv(65536)
            if not part:
                break
            answer += part
    return answer


def test_chunked_without_length_over_a_real_socket(live_url: str) -> None:
    head = (
        b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nX-Request-ID: raw-chunked\r\n\r\n"
    )
    piece = b"y" * 65536
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(20)] + [b"0\r\n\r\n"]
    answer = _raw_exchange(live_url, head, chunks)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"x-request-id: raw-chunked" in rest.lower()
    assert b"application/problem+json" in rest
    assert b"payload_too_large" in rest


def test_a_declared_length_over_the_limit_is_refused_before_the_body(live_url: str) -> None:
    head = (
        b"POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {LIMIT * 50}\r\n\r\n".encode()
    )
    answer = _raw_exchange(live_url, head, [b"{" * 1000])  # far less than declared: no waiting for it
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"payload_too_large" in answer


def test_per_ip_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(RATE_LIMIT_PER_IP="3/minute")
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    response = client.get("/healthz", headers={"X-Request-ID": "rid-429"})
    body = problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-request-id"] == "rid-429"
    assert body["retry_after"] == int(response.headers["retry-after"])
    problem(client.post("/v1/auth/register", json={}), 429, "rate_limited")
    # Another address has its own budget.
    other = TestClient(client.app, client=("10.1.2.3", 4000))
    assert other.get("/healthz").status_code == 200


def test_exempt_ips_skip_the_per_ip_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(RATE_LIMIT_PER_IP="1/minute", RATE_LIMIT_EXEMPT_IPS=["testclient"])
    assert all(client.get("/healthz").status_code == 200 for _ in range(3))


def test_per_user_limit(make_client: Callable[..., TestClient]) -> None:
    client = make_client(RATE_LIMIT_PER_USER="2/minute")
    user = customer(client)  # the factory's own /v1/me call is the first of two
    other_email = register(client)["email"]
    assert client.get("/v1/me", headers=user.headers).status_code == 200
    response = client.get("/v1/me", headers={**user.headers, "X-Request-ID": "rid-user-429"})
    problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-request-id"] == "rid-user-429"
    # Another user of the same address is not limited.
    token = client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": other_email, "password": PASSWORD}
    ).json()["access_token"]
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
