"""Every registered report file, filterable by period and name, downloadable."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui
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
chosen = st.selectbox(
    "File to download",
    list(shown["id"]),
    format_func=lambda i: "{name} {period_start} .{format}".format(**shown.set_index("id").loc[i].to_dict()),
    key="files_choice",
)
if chosen:
    row = shown.set_index("id").loc[chosen]
    payload = data.report_bytes(str(row["path"]))
    if payload is None:
        st.warning("Registered, but the file is missing from the reports folder.")
    else:
        st.download_button(
            "Download",
            payload,
            file_name=str(row["path"]).rsplit("/", 1)[-1],
            mime=MIME.get(str(row["format"]), "application/octet-stream"),
            key="files_download",
            on_click="ignore",
        )
