"""Revenue: interest and fee income by month (once the revenue mart exists)."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Revenue")
if not data.mart_exists("rpt_revenue_monthly"):
    ui.not_built("Revenue", "rpt_revenue_monthly")
    st.stop()
revenue = data.query("select * from marts.rpt_revenue_monthly order by 1")
if revenue.empty:
    ui.empty_state()
    st.stop()
st.dataframe(ui.money_frame(revenue), hide_index=True, key="revenue_table")
ui.csv_download(revenue, "revenue_monthly", key="csv_revenue")
