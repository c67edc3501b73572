"""Every registered report file, filterable by period and name, downloadable through the API."""

from __future__ import annotations

import streamlit as st

from dashboards import data, reports, ui
from dashboards.views.periodic import MIME

st.title("Report files")
files = data.report_files()
if files.empty:
    ui.empty_state("No report files registered yet.")
    st.stop()
cols = st.columns(2)
period = cols[0].selectbox("Period", ["all", "daily", "weekly", "monthly"], key="files_period")
name = cols[1].selectbox("Report", ["all", *sorted(files["name"].unique())], key="files_name")
shown = files[((files["period"] == period) | (period == "all")) & ((files["name"] == name) | (name == "all"))]
st.dataframe(
    shown[["name", "period", "period_start", "format", "size_bytes", "created_at"]],
    hide_index=True,
    key="files_table",
)
# Labels built once: a per-option lookup re-indexed the frame for every file (quadratic; 0.43 s
# of this page's 0.44 s on a year's ~1,300 files).
labels = {
    str(file_id): f"{file_name} {start} .{fmt}"
    for file_id, file_name, start, fmt in zip(
        shown["id"], shown["name"], shown["period_start"], shown["format"], strict=True
    )
}
chosen = st.selectbox("File to download", list(labels), format_func=labels.__getitem__, key="files_choice")
if chosen:
    row = shown.set_index("id").loc[chosen]
    # Through the API as the signed-in staff member: audited as report.downloaded.
    reports.download(
        str(chosen),
        "Download",
        file_name=str(row["path"]).rsplit("/", 1)[-1],
        mime=MIME.get(str(row["format"]), "application/octet-stream"),
        key="files_download",
    )
