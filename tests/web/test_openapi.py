"""The committed web/openapi.json is the API's current schema (the web app's client is typed from it)."""

from __future__ import annotations

from pathlib import Path

from cardportal.openapi import build_schema, render

COMMITTED = Path(__file__).resolve().parents[2] / "web" / "openapi.json"


def test_committed_openapi_schema_is_current() -> None:
    fresh = render(build_schema())
    committed = COMMITTED.read_text(encoding="utf-8")
    assert committed == fresh, (
        "web/openapi.json is stale: run `make web-openapi` and commit web/openapi.json "
        "and web/src/api/schema.d.ts"
    )


def test_schema_describes_the_paths_the_web_app_calls() -> None:
    paths = build_schema()["paths"]
    for path in (
        "/v1/auth/register",
        "/v1/auth/token",
        "/v1/auth/logout",
        "/v1/applications",
        "/v1/accounts",
        "/v1/accounts/{id}/transactions",
        "/v1/accounts/{id}/cards",
        "/v1/cards/{id}/freeze",
        "/v1/cards/{id}/controls",
    ):
        assert path in paths, path
