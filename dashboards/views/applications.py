"""Applications: the funnel, approval rate over time, decline reasons."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data, ui

st.title("Applications")
funnel = data.applications() if data.mart_exists("rpt_application_funnel") else pd.DataFrame()
if funnel.empty:
    ui.empty_state()
    st.stop()

applied, approved = int(funnel["applied_count"].sum()), int(funnel["approved_count"].sum())
declined, review = int(funnel["declined_count"].sum()), int(funnel["manual_review_count"].sum())
st.caption(
    f"Applications from {funnel['application_date'].min():%d %b %Y} to "
    f"{funnel['application_date'].max():%d %b %Y} (UTC days), from `rpt_application_funnel`."
)
cols = ui.metric_row(4)
cols[0].metric("Applications", ui.count(applied), border=True)
cols[1].metric("Approved", ui.count(approved), border=True)
cols[2].metric("Approval rate", ui.percent(approved / applied if applied else None), border=True)
cols[3].metric("Declined / manual review", f"{declined:,} / {review:,}", border=True)

left, right = st.columns(2)
with left:
    stages = pd.DataFrame(
        {
            "stage": ["applied", "approved", "manual review", "declined"],
            "applications": [applied, approved, review, declined],
        }
    )
    ui.chart(
        stages,
        x="stage",
        y="applications",
        x_type="N",
        kind="bar",
        sort=list(stages["stage"]),
        y_format=",d",
        title="Application funnel (count)",
        x_title="Outcome",
        y_title="Applications",
        key="applications_funnel",
    )
with right:
    ui.chart(
        funnel[["application_date", "approval_rate", "applied_count"]],
        x="application_date",
        y="approval_rate",
        y_format=".0%",
        title="Approval rate per day",
        x_title="Application day",
        y_title="Approved / applied",
        key="applications_rate",
    )

st.subheader("Decline reasons")
reasons = (
    funnel.dropna(subset=["top_decline_reason"])
    .groupby("top_decline_reason", as_index=False)
    .agg(days_as_top_reason=("application_date", "count"), declined=("declined_count", "sum"))
    .sort_values("days_as_top_reason", ascending=False)
)
if reasons.empty:
    st.info("No declined applications in this window.")
else:
    st.caption("The mart keeps each day's most common decline reason: days on which each reason led.")
    ui.vega_chart(
        reasons,
        {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {
                    "field": "days_as_top_reason",
                    "title": "Days as the top reason",
                    "type": "quantitative",
                },
                "y": {"field": "top_decline_reason", "sort": "-x", "title": "Reason code", "type": "nominal"},
            },
            "title": "Most common decline reason (days it led)",
        },
    )
    ui.csv_download(reasons, "decline_reasons", key="csv_decline_reasons")
