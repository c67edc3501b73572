"""API health: requests, latency percentiles and error rate by route, from the request-log mart."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("API health")
days = data.api_days() if data.mart_exists("rpt_api_usage_daily") else []
if not days:
    ui.empty_state("No request logs loaded yet.")
    st.stop()

day = st.selectbox("Day (UTC)", days, format_func=lambda d: f"{d:%a %d %b %Y}", key="api_day")
usage = data.api_usage(days[-1] if len(days) < 30 else days[29], days[0])
today = usage[usage["request_date"] == day].copy()
requests = int(today["requests_count"].sum())
server_errors = int(today["server_error_count"].sum())
client_errors = int(today["client_error_count"].sum())
cols = ui.metric_row(4)
cols[0].metric("Requests", ui.count(requests), border=True)
cols[1].metric("Routes called", ui.count(len(today)), border=True)
cols[2].metric(
    "Server error rate (5xx)", ui.percent(server_errors / requests if requests else None, 2), border=True
)
cols[3].metric("Client errors (4xx)", ui.count(client_errors), border=True)

st.subheader("By route")
st.caption("Latency percentiles in milliseconds, per method and route on the chosen day.")
today["route"] = today["method"] + " " + today["route"]
table = today[
    [
        "route",
        "requests_count",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "error_rate",
        "client_error_count",
        "server_error_count",
    ]
].sort_values("requests_count", ascending=False)
st.dataframe(
    table,
    hide_index=True,
    key="api_routes",
    column_config={
        "p50_ms": st.column_config.NumberColumn("p50 (ms)", format="%.1f"),
        "p95_ms": st.column_config.NumberColumn("p95 (ms)", format="%.1f"),
        "p99_ms": st.column_config.NumberColumn("p99 (ms)", format="%.1f"),
        "error_rate": st.column_config.NumberColumn("5xx rate", format="percent"),
    },
)
ui.csv_download(table, f"api_routes_{day}", key="csv_api_routes")

left, right = st.columns(2)
with left:
    ui.chart(
        table.head(12),
        x="route",
        y="p95_ms",
        x_type="N",
        kind="bar",
        sort="-y",
        y_format=",.0f",
        title="p95 latency by route (ms)",
        x_title="Route",
        y_title="p95 (ms)",
        key="api_p95",
    )
with right:
    daily = usage.groupby("request_date", as_index=False)[["requests_count", "server_error_count"]].sum()
    ui.chart(
        daily,
        x="request_date",
        y="requests_count",
        kind="bar",
        y_format=",d",
        title="Requests per day (last 30 days)",
        x_title="Day (UTC)",
        y_title="Requests",
        key="api_requests_daily",
    )
