"""Revenue: interest and fee income by month, with charge-off losses beside them."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Revenue")
if not data.mart_exists("rpt_revenue_monthly"):
    ui.not_built("Revenue", "rpt_revenue_monthly")
    st.stop()
revenue = data.revenue_monthly()
if revenue.empty:
    ui.empty_state()
    st.stop()

latest = revenue.iloc[-1]
before = revenue.iloc[-2] if len(revenue) > 1 else None
st.caption(
    f"Calendar months, the latest **{latest['period_start']:%B %Y}** (to date); interest and fees as "
    "posted to the accounts; money in US dollars."
)
cols = ui.metric_row(4)
cols[0].metric(
    "Interest income",
    ui.dollars(latest["interest_income_cents"]),
    None
    if before is None
    else ui.delta_money(latest["interest_income_cents"], before["interest_income_cents"]),
    border=True,
)
cols[1].metric(
    "Fee income",
    ui.dollars(latest["fee_income_cents"]),
    None if before is None else ui.delta_money(latest["fee_income_cents"], before["fee_income_cents"]),
    border=True,
    help="Late fees and returned-payment fees.",
)
cols[2].metric("Total income", ui.dollars(latest["total_income_cents"]), border=True)
cols[3].metric("Charge-offs", ui.dollars(latest["charged_off_cents"]), border=True)

in_dollars = ui.money_frame(revenue)
ui.chart(
    in_dollars[["period_start", "interest_income_usd", "late_fee_income_usd", "other_fee_income_usd"]].melt(
        "period_start", var_name="income", value_name="usd"
    ),
    x="period_start",
    y="usd",
    color="income",
    kind="bar",
    title="Income per month: interest, late fees, other fees (USD)",
    x_title="Month",
    y_title="USD",
    key="revenue_monthly",
)
st.dataframe(in_dollars, hide_index=True, key="revenue_table")
ui.csv_download(revenue, "rpt_revenue_monthly", key="csv_revenue")
