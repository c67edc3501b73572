"""What reads the published marts, as Dagster sees it: the dashboards' pages as external assets.

The one definition is dbt's exposures (``dbt/models/exposures/_exposures.yml``): each page's
exposure lists the marts the page queries, and ``tests/dashboards/test_lineage.py`` holds each
list to the queries the page really runs. Here every exposure of type ``dashboard`` becomes an
external asset (``dashboards/<page>``: nothing to materialize) downstream of ``published_marts``
and of the dbt assets of its marts, so the asset graph shows what a failing mart breaks. The
report files are Dagster assets already (``pipelines/assets_reports.py``); their exposures name
them in ``meta.dagster_asset`` and only feed dbt's docs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster import AssetKey, AssetSpec, MetadataValue

from pipelines.assets_dbt import CardportalTranslator, dbt_manifest, dbt_project

PUBLISHED = AssetKey("published_marts")
OWNERS = ["team:data-platform"]


def exposure_specs(manifest: Mapping[str, Any]) -> list[AssetSpec]:
    """An external asset per dashboard exposure, keyed ``dashboards/<page>``, on its marts."""
    translator = CardportalTranslator()
    specs = []
    for exposure in sorted(manifest["exposures"].values(), key=lambda e: e["name"]):
        if exposure["type"] != "dashboard":
            continue
        marts = [
            translator.get_asset_spec(manifest, unique_id, dbt_project).key
            for unique_id in sorted(exposure["depends_on"]["nodes"])
        ]
        metadata: dict[str, Any] = {"dbt_exposure": exposure["name"]}
        if exposure.get("url"):
            metadata["url"] = MetadataValue.url(exposure["url"])
        specs.append(
            AssetSpec(
                key=AssetKey(["dashboards", exposure["meta"]["page"]]),
                description=exposure.get("description") or exposure.get("label"),
                deps=[PUBLISHED, *marts],
                group_name="dashboards",
                owners=OWNERS,
                kinds={"streamlit"},
                metadata=metadata,
            )
        )
    return specs


dashboard_pages = exposure_specs(dbt_manifest())
