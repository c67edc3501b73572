"""POST /v1/auth/register: the happy path, normalisation, and every kind of bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.conftest import count_rows, problem
from tests.factories import PASSWORD


def _register(api: TestClient, **body: Any):
    return api.post("/v1/auth/register", json=body)


def test_register_creates_a_customer(api: TestClient, engine: Engine) -> None:
    response = _register(api, email="ada@example.com", password=PASSWORD, full_name="Ada Lovelace")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("usr_")
    assert {k: body[k] for k in ("email", "full_name", "role")} == {
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "role": "customer",
    }
    assert "password" not in response.text
    assert "password_hash" not in body
    with engine.connect() as conn:
        stored = conn.execute(text("select email, role, password_hash from users")).one()
    assert stored.email == "ada@example.com"
    assert stored.role == "customer"
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


def test_email_is_trimmed_and_lower_cased(api: TestClient) -> None:
    response = _register(api, email="  Grace.Hopper@Example.COM ", password=PASSWORD, full_name="Grace")
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "grace.hopper@example.com"


def test_the_same_email_in_another_case_is_taken(api: TestClient, engine: Engine) -> None:
    assert _register(api, email="alan@example.com", password=PASSWORD, full_name="Alan").status_code == 201
    response = _register(api, email="ALAN@Example.com", password=PASSWORD, full_name="Alan Again")
    problem(response, 409, "email_taken")
    assert count_rows(engine, "users") == 1


def test_unicode_names_are_kept(api: TestClient) -> None:
    name = "Zoë Ñúñez-Østergård 李小龍 🚀"
    response = _register(api, email="zoe@example.com", password=PASSWORD, full_name=f"  {name} ")
    assert response.status_code == 201, response.text
    assert response.json()["full_name"] == name


def test_a_unicode_password_logs_in(api: TestClient) -> None:
    password = "pässwörd-ünïcødé-🔑"
    assert _register(api, email="u@example.com", password=password, full_name="U").status_code == 201
    response = api.post(
        "/v1/auth/token", data={"grant_type": "password", "username": "u@example.com", "password": password}
    )
    assert response.status_code == 200, response.text


_OK = {"email": "bad@example.com", "password": PASSWORD, "full_name": "Bad Input"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({**_OK, "password": "short-pw-11"}, 422, "validation_error", id="password-11-chars"),
        pytest.param({k: v for k, v in _OK.items() if k != "email"}, 422, "validation_error", id="no-email"),
        pytest.param({k: v for k, v in _OK.items() if k != "password"}, 422, "validation_error", id="no-pw"),
        pytest.param(
            {k: v for k, v in _OK.items() if k != "full_name"}, 422, "validation_error", id="no-name"
        ),
        pytest.param({}, 422, "validation_error", id="empty-object"),
        pytest.param({**_OK, "email": 42}, 422, "validation_error", id="email-int"),
        pytest.param({**_OK, "password": 123456789012345}, 422, "validation_error", id="password-int"),
        pytest.param({**_OK, "full_name": ["a"]}, 422, "validation_error", id="name-list"),
        pytest.param({**_OK, "full_name": None}, 422, "validation_error", id="name-null"),
        pytest.param({**_OK, "role": "admin"}, 422, "validation_error", id="extra-role"),
        pytest.param({**_OK, "is_active": True}, 422, "validation_error", id="extra-field"),
        pytest.param({**_OK, "email": "not-an-email"}, 422, "validation_error", id="email-invalid"),
        pytest.param({**_OK, "email": "a@b"}, 422, "validation_error", id="email-no-tld"),
        pytest.param({**_OK, "email": ""}, 422, "validation_error", id="email-empty"),
        pytest.param({**_OK, "email": "x" * 300 + "@example.com"}, 422, "validation_error", id="email-huge"),
        pytest.param({**_OK, "full_name": "n" * 100_000}, 422, "validation_error", id="name-huge"),
        pytest.param({**_OK, "password": "p" * 100_000}, 422, "validation_error", id="password-huge"),
        pytest.param({**_OK, "full_name": "   "}, 422, "validation_error", id="name-blank"),
        pytest.param({**_OK, "full_name": "nul\x00byte"}, 422, "validation_error", id="name-nul"),
        pytest.param({**_OK, "full_name": "line\nbreak"}, 422, "validation_error", id="name-newline"),
        pytest.param({**_OK, "email": "nul\x00@example.com"}, 422, "validation_error", id="email-nul"),
        pytest.param([_OK], 422, "validation_error", id="array-body"),
        pytest.param("just a string", 422, "validation_error", id="string-body"),
    ],
)
def test_bad_input_is_a_problem_and_creates_nothing(
    api: TestClient, engine: Engine, body: Any, status: int, code: str
) -> None:
    response = api.post("/v1/auth/register", json=body)
    details = problem(response, status, code)
    assert details["detail"]
    assert count_rows(engine, "users") == 0


def test_a_password_with_a_nul_byte_is_accepted_or_refused_cleanly(api: TestClient, engine: Engine) -> None:
    response = _register(api, email="nul@example.com", password="twelve chars\x00x", full_name="Nul")
    assert response.status_code in (201, 422), response.text


def test_malformed_json_is_a_400(api: TestClient, engine: Engine) -> None:
    response = api.post(
        "/v1/auth/register",
        content=b'{"email": "x@example.com", "password": ',
        headers={"Content-Type": "application/json"},
    )
    problem(response, 400, "malformed_json")
    assert count_rows(engine, "users") == 0


def test_a_form_body_is_refused(api: TestClient, engine: Engine) -> None:
    response = api.post("/v1/auth/register", data=_OK)
    assert 400 <= response.status_code < 500
    problem(response, response.status_code)
    assert count_rows(engine, "users") == 0
