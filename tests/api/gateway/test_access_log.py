"""The JSON-lines access log: its exact fields, route templates, and nothing secret."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cardportal.settings import Settings
from tests.factories import PASSWORD, customer, unique_email, user_with_role

FIELDS = {
    "ts", "request_id", "method", "route", "path", "status", "duration_ms",
    "user_id", "role", "client_ip", "bytes_in", "bytes_out", "error_code",
}  # fmt: skip


def _line(settings: Settings, request_id: str) -> tuple[str, dict[str, Any]]:
    folder = settings.log_dir / "api"
    today = folder / f"{datetime.now(UTC):%Y-%m-%d}.jsonl"
    assert today.exists(), sorted(folder.iterdir())
    for path in sorted(folder.glob("*.jsonl"), reverse=True):
        # Only complete lines: another request may be appending the last one right now.
        for raw in Path(path).read_text().split("\n")[:-1]:
            record = json.loads(raw)
            if record["request_id"] == request_id:
                return raw, record
    raise AssertionError(f"no access-log line for {request_id}")


def _rid() -> str:
    return f"log-{uuid.uuid4().hex}"


def test_an_authenticated_request_logs_user_role_and_route_template(
    api: TestClient, session: Session, settings: Settings
) -> None:
    admin = user_with_role(api, session, "admin")
    target = customer(api)
    rid = _rid()
    response = api.post(
        f"/v1/admin/users/{target.user_id}/role?debug=1",
        json={"role": "finance"},
        headers={**admin.headers, "X-Request-ID": rid},
    )
    assert response.status_code == 200
    raw, record = _line(settings, rid)
    assert set(record) == FIELDS
    assert record["route"] == "/v1/admin/users/{id}/role"
    assert record["path"] == f"/v1/admin/users/{target.user_id}/role"  # never the query string
    assert record["method"] == "POST"
    assert record["status"] == 200
    assert record["user_id"] == admin.user_id
    assert record["role"] == "admin"
    assert record["error_code"] is None
    assert record["client_ip"] == "testclient"
    assert record["bytes_in"] == len(b'{"role":"finance"}')
    assert record["bytes_out"] == len(response.content)
    assert isinstance(record["duration_ms"], float | int)
    assert record["duration_ms"] >= 0
    assert record["ts"].endswith("Z")
    datetime.fromisoformat(record["ts"])
    assert admin.access_token not in raw
    assert "debug" not in raw
    assert "finance" not in raw  # no request body


def test_a_login_line_holds_no_password_or_token(api: TestClient, settings: Settings) -> None:
    email = unique_email("logged")
    api.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Log Me"})
    rid = _rid()
    response = api.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": PASSWORD},
        headers={"X-Request-ID": rid},
    )
    tokens = response.json()
    raw, record = _line(settings, rid)
    assert record["route"] == "/v1/auth/token"
    assert record["status"] == 200
    assert record["user_id"] is None
    for secret in (PASSWORD, tokens["access_token"], tokens["refresh_token"], email, "grant_type"):
        assert secret not in raw


def test_errors_log_their_code(api: TestClient, settings: Settings) -> None:
    cases = [
        (lambda rid: api.get("/v1/nowhere", headers={"X-Request-ID": rid}), 404, "not_found", None),
        (lambda rid: api.put("/v1/me", headers={"X-Request-ID": rid}), 405, "method_not_allowed", "/v1/me"),
        (lambda rid: api.get("/v1/me", headers={"X-Request-ID": rid}), 401, "not_authenticated", "/v1/me"),
        (
            lambda rid: api.post(
                "/v1/auth/register", json={"secret": "s3cr3t"}, headers={"X-Request-ID": rid}
            ),
            422,
            "validation_error",
            "/v1/auth/register",
        ),
        (
            lambda rid: api.post(
                "/v1/auth/token",
                data={"grant_type": "password", "username": "no@example.com", "password": "hunter2hunter2"},
                headers={"X-Request-ID": rid},
            ),
            400,
            "invalid_grant",
            "/v1/auth/token",
        ),
    ]
    for call, status, code, route in cases:
        rid = _rid()
        assert call(rid).status_code == status
        raw, record = _line(settings, rid)
        assert record["status"] == status
        assert record["error_code"] == code
        assert record["route"] == route
        assert "s3cr3t" not in raw
        assert "hunter2" not in raw


def test_a_413_is_logged(api: TestClient, settings: Settings) -> None:
    rid = _rid()
    body = b"x" * (1024 * 1024 + 1)
    response = api.post("/v1/auth/register", content=body, headers={"X-Request-ID": rid})
    assert response.status_code == 413
    _, record = _line(settings, rid)
    assert record["error_code"] == "payload_too_large"
    assert record["bytes_in"] == len(body)
