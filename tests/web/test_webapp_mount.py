"""api.webapp: the built web app at /app, with an SPA fallback and a Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import install_handlers
from api.webapp import mount_webapp


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>cardportal</title><div id=root></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('hi')")
    return tmp_path


@pytest.fixture
def web(dist: Path) -> TestClient:
    app = FastAPI()
    install_handlers(app)
    assert mount_webapp(app, dist)
    return TestClient(app)


def test_index_is_served_with_a_csp(web: TestClient) -> None:
    response = web.get("/app/")
    assert response.status_code == 200
    assert "<div id=root>" in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-cache"


def test_bare_app_path_redirects_to_the_index(web: TestClient) -> None:
    response = web.get("/app", follow_redirects=False)
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/app/")


def test_deep_links_fall_back_to_the_index(web: TestClient) -> None:
    response = web.get("/app/accounts/acct_123/card")
    assert response.status_code == 200
    assert "<div id=root>" in response.text
    assert "content-security-policy" in response.headers


def test_hashed_assets_are_cached_and_missing_ones_are_404(web: TestClient) -> None:
    asset = web.get("/app/assets/index-abc123.js")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["cache-control"]
    missing = web.get("/app/assets/index-gone.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_nothing_is_mounted_without_a_build(tmp_path: Path) -> None:
    app = FastAPI()
    assert not mount_webapp(app, tmp_path)
    assert TestClient(app).get("/app/").status_code == 404


def test_the_csp_allows_only_this_origin(web: TestClient) -> None:
    csp = dict(
        directive.strip().split(" ", 1)
        for directive in web.get("/app/").headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert "unsafe-inline" not in str(csp)
    assert "unsafe-eval" not in str(csp)


def test_large_files_are_gzipped_for_clients_that_accept_it(dist: Path, web: TestClient) -> None:
    (dist / "assets" / "index-big.js").write_text("console.log('cardportal');\n" * 2000)
    zipped = web.get("/app/assets/index-big.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.text.count("cardportal") == 2000  # httpx decodes it
    assert int(zipped.headers["content-length"]) < 2000
    assert "immutable" in zipped.headers["cache-control"]
    plain = web.get("/app/assets/index-big.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
