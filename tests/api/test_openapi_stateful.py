"""Stateful fuzzing: schemathesis follows the OpenAPI links (apply -> account -> cards -> authorize ->
clear/reverse, ...) and sends generated requests along them. No 5xx, answers that match the document,
and a balanced ledger afterwards."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from api.ledger import service as ledger
from tests.conftest import NETWORK_KEY
from tests.factories import customer, scored_email, user_with_role
from tests.faults.conftest import write_result

STEPS = int(os.environ.get("SCHEMATHESIS_STATEFUL_EXAMPLES", "12"))


def test_the_api_survives_linked_sequences(app: FastAPI, api: TestClient, session: Session) -> None:
    document = app.openapi()
    assert document["paths"]["/v1/applications"]["post"]["responses"]["201"]["links"]
    schema = schemathesis.openapi.from_dict(document)
    admin = user_with_role(api, session, "admin")
    calls: list[int] = []
    reached: set[str] = set()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each example starts from the same state: a new cardholder. With one customer for
            # the whole run, the first example's approved application made every later one a 409
            # account_exists (issue 21's one account per customer), so the same choices met other
            # answers and Hypothesis stopped with FlakyStrategyDefinition ("a bundle that was
            # unexpectedly empty"), about one run in ten.
            self.holder = customer(api, email=scored_email(800))

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            path = case.operation.path
            if path.startswith("/v1/network/"):
                auth = {"X-Network-Key": NETWORK_KEY}
            elif path.startswith(("/v1/admin/", "/v1/sandbox/")):
                auth = admin.headers
            else:
                auth = self.holder.headers
            return {"app": app, "headers": {**(case.headers or {}), **auth}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            calls.append(response.status_code)
            reached.add(case.operation.label)
            assert response.status_code < 500, (case.operation.label, response.text)
            case.validate_response(
                response,
                checks=[status_code_conformance, content_type_conformance, response_schema_conformance],
                transport_kwargs=kwargs,
            )

    Workflow.run(
        settings=settings(
            max_examples=STEPS,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    session.expire_all()
    assert ledger.trial_balance(session).balanced
    assert ledger.unbalanced_transfers(session) == []
    assert calls
    # The links were followed: a clear or reverse can only be reached from a real authorization.
    write_result(
        "fuzz_stateful",
        {
            "calls": len(calls),
            "answered_2xx": sum(c < 300 for c in calls),
            "answered_4xx": sum(400 <= c < 500 for c in calls),
            "server_errors": 0,
            "operations_reached": sorted(reached),
        },
    )
