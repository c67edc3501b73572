"""Payments: payment rate, full/minimum/partial mix, failures, autopay (once the payments mart exists)."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Payments")
if not data.mart_exists("rpt_payments_daily"):
    ui.not_built("Payments", "rpt_payments_daily")
    st.stop()
payments = data.query("select * from marts.rpt_payments_daily order by 1")
if payments.empty:
    ui.empty_state()
    st.stop()
st.dataframe(ui.money_frame(payments), hide_index=True, key="payments_table")
ui.csv_download(payments, "payments_daily", key="csv_payments")
