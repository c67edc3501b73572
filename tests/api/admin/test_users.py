"""GET /v1/admin/users (cursor pagination) and POST /v1/admin/users/{id}/role."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cardportal.settings import Settings
from tests.conftest import problem
from tests.factories import customer, register, user_with_role


def test_customers_and_strangers_may_not_list_users(api: TestClient, session: Session) -> None:
    problem(api.get("/v1/admin/users"), 401, "not_authenticated")
    problem(api.get("/v1/admin/users", headers=customer(api).headers), 403, "insufficient_role")
    for role in ("analyst", "finance"):
        problem(api.get("/v1/admin/users", headers=user_with_role(api, session, role).headers), 403)


def test_limit_one_walks_every_user_once_newest_first(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")
    created = [register(api)["id"] for _ in range(4)]
    seen: list[dict[str, str]] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        response = api.get("/v1/admin/users", params=params, headers=admin.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= 1
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [u["id"] for u in seen]
    assert len(ids) == len(set(ids)) == 5
    assert ids[:4] == list(reversed(created))  # newest first; the admin came first of all
    assert ids[4] == admin.user_id
    assert set(seen[0]) >= {"id", "email", "full_name", "role", "created_at"}
    stamps = [u["created_at"] for u in seen]
    assert stamps == sorted(stamps, reverse=True)

    whole = api.get("/v1/admin/users", headers=admin.headers).json()
    assert [u["id"] for u in whole["data"]] == ids
    assert whole["next_cursor"] is None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "bogus",
        "!!!",
        _b64(b"not json"),
        _b64(b"[1, 2, 3]"),
        _b64(b"42"),
        _b64(b'["2024-01-01T00:00:00", "usr_x"]'),  # no time zone
        _b64(b'["yesterday", "usr_x"]'),
        _b64(b'[1, "usr_x"]'),
        _b64(b'["2024-01-01T00:00:00+00:00", 7]'),
        _b64(b'{"a": 1}'),
        _b64(b'["2024-01-01T00:00:00+00:00", "usr_\\u0000"]'),  # a NUL PostgreSQL cannot hold
        _b64(b"\xff\xfe"),
    ],
)
def test_a_bogus_cursor_is_invalid_cursor(api: TestClient, session: Session, cursor: str) -> None:
    admin = user_with_role(api, session, "admin")
    problem(
        api.get("/v1/admin/users", params={"cursor": cursor}, headers=admin.headers), 400, "invalid_cursor"
    )


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten", "1.5"])
def test_limit_out_of_range_is_a_422(api: TestClient, session: Session, limit: str) -> None:
    admin = user_with_role(api, session, "admin")
    problem(
        api.get("/v1/admin/users", params={"limit": limit}, headers=admin.headers), 422, "validation_error"
    )


def test_limit_bounds_are_accepted(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")
    for limit in ("1", "200"):
        assert api.get("/v1/admin/users", params={"limit": limit}, headers=admin.headers).status_code == 200


def test_an_admin_sets_a_role_and_the_next_token_carries_it(
    api: TestClient, session: Session, settings: Settings
) -> None:
    admin = user_with_role(api, session, "admin")
    user = customer(api)
    response = api.post(
        f"/v1/admin/users/{user.user_id}/role", json={"role": "analyst"}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "analyst"
    assert response.json()["id"] == user.user_id

    refreshed = api.post(
        "/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": user.refresh_token}
    ).json()
    claims = jwt.decode(
        refreshed["access_token"],
        settings.secret("jwt_secret"),
        algorithms=["HS256"],
        audience="cardportal-api",
    )
    assert claims["role"] == "analyst"
    assert api.get("/v1/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"}).json()[
        "role"
    ] == ("analyst")


def test_role_changes_need_an_admin_a_user_and_a_role(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")
    user = customer(api)
    url = f"/v1/admin/users/{user.user_id}/role"
    problem(api.post(url, json={"role": "admin"}, headers=user.headers), 403, "insufficient_role")
    problem(api.post(url, json={"role": "admin"}), 401)
    problem(api.post("/v1/admin/users/usr_nobody/role", json={"role": "finance"}, headers=admin.headers), 404)
    # Junk in a path id is bad input on every path (issue 21, finding 5): 422 before any query.
    problem(api.post("/v1/admin/users/usr_%00/role", json={"role": "finance"}, headers=admin.headers), 422)
    for bad in ({"role": "root"}, {"role": None}, {}, {"role": "admin", "extra": 1}, {"role": "ADMIN"}):
        problem(api.post(url, json=bad, headers=admin.headers), 422, "validation_error")
    assert api.get("/v1/me", headers=user.headers).json()["role"] == "customer"


def test_the_cursor_is_opaque_json(api: TestClient, session: Session) -> None:
    admin = user_with_role(api, session, "admin")
    register(api)
    cursor = api.get("/v1/admin/users", params={"limit": 1}, headers=admin.headers).json()["next_cursor"]
    created_at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert row_id.startswith("usr_")
    assert "T" in created_at
