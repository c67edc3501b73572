"""The data docs server (issue 22, finding 5): dbt's page and the Data Docs, nothing else."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cardportal import docs


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    home = tmp_path / "home"
    (home / "docs" / "dbt").mkdir(parents=True)
    (home / "gx" / "data_docs" / "validations").mkdir(parents=True)
    (home / "secrets").mkdir()
    (home / "secrets" / "jwt_secret").write_text("do-not-serve")
    (home / "reports").mkdir()
    (home / "reports" / "x.csv").write_text("not here either")
    server = docs.make_server(home, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", home
    finally:
        server.shutdown()
        server.server_close()


def test_the_index_says_what_is_not_generated_yet(served: tuple[str, Path]) -> None:
    base, _ = served
    index = httpx.get(f"{base}/")
    assert index.status_code == 200
    assert "dbt docs" in index.text
    assert "not generated yet" in index.text
    assert "not written yet" in index.text
    assert httpx.get(f"{base}/dbt/").status_code == 404


def test_dbt_docs_and_data_docs_are_served_and_nothing_else(served: tuple[str, Path]) -> None:
    base, home = served
    (home / "docs" / "dbt" / "index.html").write_text("<html>dbt</html>")
    (home / "gx" / "data_docs" / "index.html").write_text("<html>gx</html>")
    (home / "gx" / "data_docs" / "validations" / "run.html").write_text("<html>run</html>")
    index = httpx.get(f"{base}/")
    assert 'href="dbt/"' in index.text
    assert 'href="gx/"' in index.text
    assert httpx.get(f"{base}/dbt/").text == "<html>dbt</html>"
    assert httpx.get(f"{base}/gx/").text == "<html>gx</html>"
    assert httpx.get(f"{base}/gx/validations/run.html").text == "<html>run</html>"
    assert httpx.get(f"{base}/gx/").headers["x-content-type-options"] == "nosniff"
    for path in (
        "/secrets/jwt_secret",
        "/reports/x.csv",
        "/dbt/../../secrets/jwt_secret",
        "/gx/../../secrets/jwt_secret",
        "/gx/%2e%2e/%2e%2e/secrets/jwt_secret",
        "/gx/validations/",  # no listings
    ):
        answer = httpx.get(f"{base}{path}")
        assert answer.status_code == 404, path
        assert "do-not-serve" not in answer.text
    # httpx removes dot segments before sending: the same paths, sent as written.
    host, port = base.removeprefix("http://").split(":")
    for path in ("/dbt/../../secrets/jwt_secret", "/gx/../secrets/jwt_secret", "/../secrets/jwt_secret"):
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
            answer = b"".join(iter(lambda: raw.recv(4096), b""))
        assert answer.startswith(b"HTTP/1.0 404"), (path, answer[:40])
        assert b"do-not-serve" not in answer
