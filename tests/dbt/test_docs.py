"""The marts are documented where a reader looks (issue 22, finding 8), and lineage reaches past them.

- Every mart has a file of its own (``dbt/models/marts/<mart>.yml``, as jaffle-shop keeps them),
  an enforced contract, a description and a description for every column.
- Every dashboard exposure is a Dagster asset downstream of the marts it declares, and of
  ``published_marts`` (which page reads which mart is tested against the pages' own queries in
  ``tests/dashboards/test_pages.py``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    from tests.pipelines.conftest import ensure_dbt_manifest

    return json.loads(ensure_dbt_manifest().read_text())


def _marts(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    ]


def test_every_mart_and_every_column_is_described(manifest: dict[str, Any]) -> None:
    marts = _marts(manifest)
    assert len(marts) >= 18
    undocumented = [
        f"{node['name']}.{column}"
        for node in marts
        for column, spec in node["columns"].items()
        if not spec["description"].strip()
    ]
    assert undocumented == []
    assert [n["name"] for n in marts if not n["description"].strip()] == []
    # A contract lists every column, so "every column described" covers the whole table.
    assert [n["name"] for n in marts if not n["config"]["contract"]["enforced"]] == []


def test_every_mart_has_its_own_properties_file(manifest: dict[str, Any]) -> None:
    for node in _marts(manifest):
        assert node["patch_path"] == f"cardportal://models/marts/{node['name']}.yml", node["name"]
    for test in manifest["unit_tests"].values():
        assert test["original_file_path"].endswith(f"/{test['model']}.yml") or test[
            "original_file_path"
        ].startswith("models/intermediate/"), test["name"]


def test_every_dashboard_exposure_is_an_asset_downstream_of_its_marts(manifest: dict[str, Any]) -> None:
    from dagster import AssetKey

    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    dashboards = [e for e in manifest["exposures"].values() if e["type"] == "dashboard"]
    assert len(dashboards) >= 10
    for exposure in dashboards:
        key = AssetKey(["dashboards", exposure["meta"]["page"]])
        parents = {k.to_user_string() for k in graph.get(key).parent_keys}
        declared = {f"marts/{node.split('.')[-1]}" for node in exposure["depends_on"]["nodes"]}
        assert parents == declared | {"published_marts"}, exposure["name"]
        assert not graph.get(key).is_materializable  # external: Streamlit renders it, nothing to run
    reports = [e for e in manifest["exposures"].values() if e["type"] != "dashboard"]
    for exposure in reports:
        # The report files are assets already: the exposure names the one it describes.
        assert graph.has(AssetKey(exposure["meta"]["dagster_asset"])), exposure["name"]
