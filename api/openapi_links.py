"""OpenAPI links (3.1 ``links``): how one operation's answer feeds the next one's parameters.

They document the API's workflows (apply, then read the account, its cards and
their transactions; authorize, then clear or reverse) and let stateful fuzzers
(schemathesis) chain real ids instead of guessing them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# (method, path, status) of a producer -> {link name: (method, path of the consumer, parameters, body)}
_Link = tuple[str, str, dict[str, str], dict[str, Any] | None]
_ACCOUNT_READS: dict[str, _Link] = {
    "GetAccount": ("get", "/v1/accounts/{id}", {"path.id": "$response.body#/account_id"}, None),
    "ListCards": ("get", "/v1/accounts/{id}/cards", {"path.id": "$response.body#/account_id"}, None),
    "ListTransactions": (
        "get",
        "/v1/accounts/{id}/transactions",
        {"path.id": "$response.body#/account_id"},
        None,
    ),
    "ListStatements": (
        "get",
        "/v1/accounts/{id}/statements",
        {"path.id": "$response.body#/account_id"},
        None,
    ),
    "ListPayments": ("get", "/v1/accounts/{id}/payments", {"path.id": "$response.body#/account_id"}, None),
}
_FIRST_CARD = "$response.body#/data/0/id"
LINKS: dict[tuple[str, str, str], dict[str, _Link]] = {
    ("post", "/v1/applications", "201"): {
        "GetApplication": ("get", "/v1/applications/{id}", {"path.id": "$response.body#/id"}, None),
        **_ACCOUNT_READS,
    },
    ("get", "/v1/applications/{id}", "200"): dict(_ACCOUNT_READS),
    ("get", "/v1/accounts/{id}", "200"): {
        name: (method, path, {"path.id": "$response.body#/id"}, None)
        for name, (method, path, _, _) in _ACCOUNT_READS.items()
        if name != "GetAccount"
    },
    ("get", "/v1/accounts/{id}/cards", "200"): {
        "FreezeCard": ("post", "/v1/cards/{id}/freeze", {"path.id": _FIRST_CARD}, None),
        "UnfreezeCard": ("post", "/v1/cards/{id}/unfreeze", {"path.id": _FIRST_CARD}, None),
        "GetControls": ("get", "/v1/cards/{id}/controls", {"path.id": _FIRST_CARD}, None),
        "PutControls": ("put", "/v1/cards/{id}/controls", {"path.id": _FIRST_CARD}, None),
        "Authorize": (
            "post",
            "/v1/network/authorizations",
            {},
            {
                "card_id": _FIRST_CARD,
                "amount": 1_000,
                "currency": "USD",
                "merchant": {"name": "Linked Shop", "mcc": "5411", "country": "US"},
            },
        ),
    },
    ("post", "/v1/network/authorizations", "200"): {
        "Clear": ("post", "/v1/network/authorizations/{id}/clear", {"path.id": "$response.body#/id"}, None),
        "Reverse": (
            "post",
            "/v1/network/authorizations/{id}/reverse",
            {"path.id": "$response.body#/id"},
            None,
        ),
    },
}


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    """Add :data:`LINKS` to a generated document (in place); consumers are named by operationId."""
    paths = document.get("paths", {})
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        rendered = {}
        for name, (target_method, target_path, parameters, body) in links.items():
            target = paths.get(target_path, {}).get(target_method)
            if target is None:
                continue
            link: dict[str, Any] = {"operationId": target["operationId"]}
            if parameters:
                link["parameters"] = parameters
            if body is not None:
                link["requestBody"] = body
            rendered[name] = link
        response["links"] = rendered
    return document


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with its links."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
