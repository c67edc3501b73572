"""Shared page pieces: money and rate formatting, deltas, Altair charts with CSV downloads, empty states."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

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
    """A CSV of ``frame`` made when the button is pressed (Streamlit's deferred download), not on
    every render: writing each chart's and table's CSV up front was a fifth of a page's time."""
    st.download_button(
        f"Download {name} (CSV)",
        lambda: frame.to_csv(index=False).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
    )


def money_frame(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Every ``*_cents`` column as ``*_usd`` dollars (for charts and tables; CSVs stay exact).

    ``columns``: only these, in this order (``*_usd`` ones made from their ``*_cents``), so a
    chart of three columns does not convert the other ten first.
    """
    if columns is None:
        cents = [c for c in frame.columns if c.endswith("_cents")]
        columns = [c for c in frame.columns if c not in cents] + [
            c.removesuffix("_cents") + "_usd" for c in cents
        ]
    made = {}
    for column in columns:
        if column.endswith("_usd") and column not in frame.columns:
            made[column] = frame[column.removesuffix("_usd") + "_cents"].astype("float64") / 100
        else:
            made[column] = frame[column]
    # One new frame from the columns (a copy and a pop per column cost more than the charts).
    return pd.DataFrame(made, index=frame.index)


_VEGA_TYPES = {"T": "temporal", "Q": "quantitative", "N": "nominal", "O": "ordinal"}


def _x_axis(values: pd.Series, x_type: str) -> dict[str, Any]:
    """Business days on a time axis tick by day (never by hour); category labels stay level."""
    if x_type != "T":
        return {"labelAngle": 0, "labelLimit": 160}
    if values.nunique() <= 31:
        return {"format": "%a %d %b", "labelOverlap": True, "tickCount": {"interval": "day", "step": 1}}
    return {"format": "%d %b %Y"}


def _field_type(values: pd.Series) -> str:
    """The Vega-Lite type Altair infers for a column (numbers, dates and times, anything else)."""
    kind = values.dtype.kind
    if kind in "iufc":
        return "quantitative"
    if kind in "mM":
        return "temporal"
    if kind == "O":
        sample = values.dropna()
        if not sample.empty and isinstance(sample.iloc[0], date | datetime | time | timedelta):
            return "temporal"
        if (
            not sample.empty
            and len(sample) == len(values)
            and isinstance(sample.iloc[0], int | float | Decimal)
        ):
            return "quantitative"
    return "nominal"


def vega_chart(frame: pd.DataFrame, spec: dict[str, Any]) -> None:
    """A Vega-Lite chart of ``frame``, the spec written as Altair would write it.

    Altair was a third of each page's render: building its objects, validating them, serialising
    them back to this dict (issue 24). The dicts here are the ones Streamlit sent for the same
    Altair charts: Altair's ``to_dict()`` without its data and its default ``config``, which
    Streamlit's theme replaces (tests/dashboards/test_charts.py holds them to it).
    """
    st.vega_lite_chart(frame, spec, width="stretch")


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
    """A Vega-Lite chart with title, axes and units, and its data downloadable as CSV below it."""
    if frame.empty:
        empty_state(f"{title}: nothing to show for this selection.")
        return
    mark = {
        "line": {"type": "line", "point": True},
        "bar": {"type": "bar"},
        "area": {"type": "area", "opacity": 0.6},
    }[kind]
    encoding: dict[str, Any] = {
        "x": {
            "axis": _x_axis(frame[x], x_type),
            "field": x,
            "sort": sort,
            "title": x_title,
            "type": _VEGA_TYPES[x_type],
        },
        "y": {"axis": {"format": y_format}, "field": y, "title": y_title, "type": "quantitative"},
        "tooltip": [{"field": c, "type": _field_type(frame[c])} for c in frame.columns[:8]],
    }
    if color:
        encoding["color"] = {"field": color, "title": color.replace("_", " "), "type": "nominal"}
    vega_chart(frame, {"mark": mark, "encoding": encoding, "title": title})
    csv_download(frame, key, key=f"csv_{key}")
