"""Factories for test data, through the real services and HTTP API."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import service as auth_service

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class LoggedIn:
    user_id: str
    email: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}@example.com"


def register(client: TestClient, *, email: str | None = None, password: str = PASSWORD) -> dict[str, str]:
    email = email or unique_email()
    response = client.post(
        "/v1/auth/register", json={"email": email, "password": password, "full_name": "Test Person"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, str] = response.json()
    return body


def login(client: TestClient, email: str, password: str = PASSWORD) -> LoggedIn:
    response = client.post(
        "/v1/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    return LoggedIn(me["id"], email, body["access_token"], body["refresh_token"])


def customer(client: TestClient, *, email: str | None = None) -> LoggedIn:
    user = register(client, email=email)
    return login(client, user["email"])


def user_with_role(client: TestClient, session: Session, role: str) -> LoggedIn:
    email = unique_email(role)
    auth_service.register(session, email=email, password=PASSWORD, full_name=f"Test {role}", role=role)
    session.commit()
    return login(client, email)
