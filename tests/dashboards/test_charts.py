"""The pages' Vega-Lite specs are the ones Altair wrote for the same charts (issue 24: Altair's
objects, validation and serialisation were a third of a page's render, so ``ui`` writes the dicts)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import altair as alt
import pandas as pd
import pytest
import streamlit as st

from dashboards import ui


def altair_spec(frame: pd.DataFrame, **kwargs: Any) -> dict[str, Any]:
    """The chart ``ui.chart`` drew before, as Altair serialised it (without its data)."""
    x, y, x_type = kwargs["x"], kwargs["y"], kwargs.get("x_type", "T")
    base = alt.Chart(frame, title=kwargs["title"])
    mark = {"line": base.mark_line(point=True), "bar": base.mark_bar(), "area": base.mark_area(opacity=0.6)}[
        kwargs.get("kind", "line")
    ]
    if x_type != "T":
        axis = alt.Axis(labelAngle=0, labelLimit=160)
    elif frame[x].nunique() <= 31:
        axis = alt.Axis(format="%a %d %b", tickCount={"interval": "day", "step": 1}, labelOverlap=True)
    else:
        axis = alt.Axis(format="%d %b %Y")
    encodings: dict[str, Any] = {
        "x": alt.X(f"{x}:{x_type}", title=kwargs["x_title"], sort=kwargs.get("sort"), axis=axis),
        "y": alt.Y(f"{y}:Q", title=kwargs["y_title"], axis=alt.Axis(format=kwargs.get("y_format", ",.2f"))),
        "tooltip": [alt.Tooltip(c) for c in frame.columns[:8]],
    }
    if kwargs.get("color"):
        encodings["color"] = alt.Color(f"{kwargs['color']}:N", title=kwargs["color"].replace("_", " "))
    spec = mark.encode(**encodings).to_dict()
    for generated in ("data", "datasets", "$schema", "config"):  # Streamlit drops the default config
        spec.pop(generated)
    return spec


DAYS = [date(2026, 11, 1) + timedelta(days=n) for n in range(40)]
FRAME = pd.DataFrame(
    {
        "period_start": DAYS,
        "purchase_volume_usd": [float(n) * 1.5 for n in range(40)],
        "purchase_count": list(range(40)),
        "mcc_group": ["groceries", None] * 20,
        "approval_rate": [0.5] * 40,
        "is_month_end": [n % 2 == 0 for n in range(40)],
    }
)
CASES = {
    "line over 40 days": (FRAME, {"x": "period_start", "y": "purchase_volume_usd"}),
    "line over a month": (FRAME.head(20), {"x": "period_start", "y": "approval_rate", "y_format": ".1%"}),
    "area by colour": (
        FRAME,
        {"x": "period_start", "y": "purchase_count", "kind": "area", "color": "mcc_group"},
    ),
    "sorted bars": (
        FRAME.head(5),
        {"x": "mcc_group", "y": "purchase_volume_usd", "x_type": "N", "kind": "bar", "sort": "-y"},
    ),
    "bars in a given order": (
        FRAME.head(3),
        {"x": "purchase_count", "y": "approval_rate", "x_type": "N", "kind": "bar", "sort": [2, 0, 1]},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_chart_writes_the_spec_altair_wrote(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    frame, options = CASES[case]
    kwargs = {"title": "A title", "x_title": "X", "y_title": "Y", "key": "k", **options}
    drawn: list[tuple[pd.DataFrame, dict[str, Any]]] = []
    monkeypatch.setattr(st, "vega_lite_chart", lambda data, spec, **_: drawn.append((data, spec)))
    monkeypatch.setattr(st, "download_button", lambda *_, **__: None)
    ui.chart(frame, **kwargs)
    [(data, spec)] = drawn
    assert data is frame
    assert spec == altair_spec(frame, **kwargs)
