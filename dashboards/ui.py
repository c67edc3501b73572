"""Shared page pieces: money and rate formatting, deltas, Altair charts with CSV downloads, empty states."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

MISSING = "\u2013"  # an en dash for a figure with no data
EMPTY_HINT = (
    "No data in the warehouse yet. Run `cardportal demo` for a simulated world, or materialise the "
    "Dagster `daily_job` (Dagster UI at :3000)."
)


def dollars(cents: Any) -> str:
    """Cents (exact integers in the marts) shown as dollars: 123456 -> "$1,234.56"."""
    if cents is None or pd.isna(cents):
        return MISSING
    value = Decimal(int(cents)) / 100
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def percent(rate: Any, digits: int = 1) -> str:
    if rate is None or pd.isna(rate):
        return MISSING
    return f"{float(rate) * 100:.{digits}f}%"


def count(value: Any) -> str:
    if value is None or pd.isna(value):
        return MISSING
    return f"{int(value):,}"


def delta_money(current: Any, prior: Any) -> str | None:
    if current is None or prior is None or pd.isna(current) or pd.isna(prior):
        return None
    return dollars(int(current) - int(prior))


def delta_count(current: Any, prior: Any) -> str | None:
    if current is None or prior is None or pd.isna(current) or pd.isna(prior):
        return None
    return f"{int(current) - int(prior):+,}"


def delta_points(current: Any, prior: Any) -> str | None:
    if current is None or prior is None or pd.isna(current) or pd.isna(prior):
        return None
    return f"{(float(current) - float(prior)) * 100:+.1f} pts"


def period_label(grain: str, start: date) -> str:
    """ISO weeks (Monday start) and calendar months, as the page states."""
    if grain == "weekly":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d} (Mon {start:%d %b} to Sun {start + timedelta(days=6):%d %b %Y})"
    if grain == "monthly":
        return f"{start:%B %Y}"
    return f"{start:%a %d %b %Y}"


def prior_start(grain: str, start: date) -> date:
    if grain == "weekly":
        return start - timedelta(days=7)
    if grain == "monthly":
        return (start - timedelta(days=1)).replace(day=1)
    return start - timedelta(days=1)


def period_end(grain: str, start: date) -> date:
    if grain == "weekly":
        return start + timedelta(days=6)
    if grain == "monthly":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return start


class MetricRow:
    """Metric tiles side by side, each as wide as its label and value, wrapping to a new line when
    the page is too narrow for them all. (``st.columns(n)`` gives each tile 1/n of the width and cuts
    whatever does not fit: "Outstanding recei…", "$64,83…".)"""

    def __init__(self) -> None:
        self._row = st.container(horizontal=True, wrap=True, gap="small")

    def metric(self, *args: Any, **kwargs: Any) -> Any:
        return self._row.metric(*args, width="content", **kwargs)


def metric_row(count: int) -> list[MetricRow]:
    """``count`` places for metric tiles in one wrapping row (used as ``st.columns(count)`` was)."""
    row = MetricRow()
    return [row] * count


def empty_state(what: str = "") -> None:
    st.info((f"{what} " if what else "") + EMPTY_HINT)


def not_built(topic: str, mart: str) -> None:
    st.warning(
        f"**{topic}: not built yet.** This page reads the mart `marts.{mart}`, which the data platform "
        "does not produce yet. It appears here as soon as the pipelines build it."
    )


def csv_download(frame: pd.DataFrame, name: str, *, key: str) -> None:
    st.download_button(
        f"Download {name} (CSV)",
        frame.to_csv(index=False).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
    )


def money_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every ``*_cents`` column as ``*_usd`` dollars (for charts and tables; CSVs stay exact)."""
    out = frame.copy()
    for column in [c for c in frame.columns if c.endswith("_cents")]:
        out[column.removesuffix("_cents") + "_usd"] = out.pop(column).astype("float64") / 100
    return out


def _x_axis(values: pd.Series, x_type: str) -> alt.Axis:
    """Business days on a time axis tick by day (never by hour); category labels stay level."""
    if x_type != "T":
        return alt.Axis(labelAngle=0, labelLimit=160)
    if values.nunique() <= 31:
        return alt.Axis(format="%a %d %b", tickCount={"interval": "day", "step": 1}, labelOverlap=True)
    return alt.Axis(format="%d %b %Y")


class Chart(alt.Chart):
    """``alt.Chart`` serialised without validating the spec against the Vega-Lite JSON schema.

    Streamlit calls ``to_dict()`` on every render; the validation (jsonschema over the whole
    schema) was a third of a chart's cost and only ever raises: the spec it returns is the
    same. Our charts are fixed code, rendered in tests/dashboards.
    """

    def to_dict(self, validate: Any = False, **kwargs: Any) -> Any:
        return super().to_dict(validate=validate, **kwargs)


def chart(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    title: str,
    x_title: str,
    y_title: str,
    kind: str = "line",
    color: str | None = None,
    y_format: str = ",.2f",
    key: str,
    x_type: str = "T",
    sort: Any = None,
) -> None:
    """An Altair chart with title, axes and units, and its data downloadable as CSV below it."""
    if frame.empty:
        empty_state(f"{title}: nothing to show for this selection.")
        return
    base = Chart(frame, title=title)
    mark = {"line": base.mark_line(point=True), "bar": base.mark_bar(), "area": base.mark_area(opacity=0.6)}[
        kind
    ]
    encodings: dict[str, Any] = {
        "x": alt.X(f"{x}:{x_type}", title=x_title, sort=sort, axis=_x_axis(frame[x], x_type)),
        "y": alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=y_format)),
        "tooltip": [alt.Tooltip(c) for c in frame.columns[:8]],
    }
    if color:
        encodings["color"] = alt.Color(f"{color}:N", title=color.replace("_", " "))
    st.altair_chart(mark.encode(**encodings), width="stretch")
    csv_download(frame, key, key=f"csv_{key}")
