"""A smoke test of the bench harness: the load client, paired runs, JSON and the table (no timing asserts)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from bench import product
from bench.harness import Result, median, paired, save, table
from bench.load import Connection, HttpError, run_load


def test_a_tiny_benchmark_runs_end_to_end(live_server, tmp_path):
    address = urlsplit(live_server)
    host, port = address.hostname, address.port
    assert host is not None
    assert port is not None

    async def missing(conn: Connection, _: int) -> None:
        await conn.expect(404, "GET", "/v1/nothing-here")

    def measure(scenario: object) -> float:
        result = run_load(host, port, scenario, concurrency=2, seconds=2.0, warmup=0.2)  # type: ignore[arg-type]
        assert result.errors == 0, result.first_error
        assert result.operations > 0
        assert result.p99 >= result.p50 > 0
        return result.rate

    ours, base = paired(lambda: measure(missing), lambda: measure(product.healthz), repetitions=1)
    result = Result(
        name="smoke",
        ours=median(ours),
        baseline=median(base),
        unit="rps",
        baseline_name="/healthz rps",
        goal=0.0,
        ours_runs=ours,
        baseline_runs=base,
    )
    path = save(result, quick=True, directory=tmp_path)
    stored = json.loads(path.read_text())
    assert stored["name"] == "smoke"
    assert stored["passed"] is True
    assert stored["ratio"] == result.ours / result.baseline
    assert "| `smoke` |" in table([result])


def test_the_load_client_reports_an_unexpected_status(live_server):
    address = urlsplit(live_server)
    assert address.hostname is not None
    assert address.port is not None

    async def wrong(conn: Connection, _: int) -> None:
        await conn.expect(200, "GET", "/v1/nothing-here")

    result = run_load(address.hostname, address.port, wrong, concurrency=1, seconds=0.2, warmup=0.0)
    assert result.operations == 0
    assert result.errors > 0
    assert result.first_error is not None
    assert "404" in result.first_error
    assert issubclass(HttpError, RuntimeError)
