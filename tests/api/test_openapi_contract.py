"""A bounded schemathesis run over /openapi.json: no 5xx, and answers that match the document."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session

from api.main import create_app
from tests.conftest import make_settings
from tests.factories import user_with_role


def _document() -> dict[str, Any]:
    """The OpenAPI document, from an app that never connects (pytest collects before any database)."""
    with tempfile.TemporaryDirectory() as home:
        app = create_app(
            make_settings(Path(home)), database_url="postgresql://nobody@/unused?host=/nonexistent"
        )
        document: dict[str, Any] = app.openapi()
        app.state.engine.dispose()
        return document


schema = schemathesis.openapi.from_dict(_document())

# Where a schema-valid value is still refused by a rule JSON Schema cannot state, the
# "valid data is accepted" check is off for that operation only; every other check stays on:
# - register: email-validator refuses special-use and reserved domains that `format: email` allows;
# - applications: date_of_birth may not lie after the platform clock's today;
# - the sandbox clock: exactly one of days/to, and `to` within 400 days of the clock's now;
# - Stripe's webhook: only a body signed with the webhook secret is accepted;
# - every list: `cursor` is opaque, so any string but one the API returned is `invalid_cursor`.
_OPAQUE_RULES = {
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/applications"),
    ("POST", "/v1/sandbox/clock/advance"),
    ("POST", "/v1/webhooks/stripe"),
}


@pytest.fixture
def admin_headers(api: TestClient, session: Session) -> dict[str, str]:
    return user_with_role(api, session, "admin").headers


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_the_api_honours_its_openapi_document(case: Any, app: FastAPI, admin_headers: dict[str, str]) -> None:
    # An admin token reaches every route's logic; the 401/403 answers have their own tests.
    headers = {**admin_headers, **(case.headers or {})}
    excluded = []
    parameters = {parameter.name for parameter in case.operation.iter_parameters()}
    if (case.operation.method.upper(), case.operation.path) in _OPAQUE_RULES or "cursor" in parameters:
        excluded.append(schemathesis.checks.positive_data_acceptance)
    response = case.call_and_validate(app=app, headers=headers, excluded_checks=excluded)
    assert response.status_code < 500, response.text
