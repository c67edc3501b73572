"""Spending: MCC groups, top merchants, the weekday pattern and the average ticket."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards import data, ui

st.title("Spending")
days = data.periods("daily") if data.mart_exists("rpt_card_activity_daily") else []
if not days:
    ui.empty_state()
    st.stop()

last_day, first_day = days[0], days[-1]
window = st.date_input(
    "Posted between",
    (max(first_day, last_day - timedelta(days=89)), last_day),
    min_value=first_day,
    max_value=last_day,
    key="spending_window",
)
first, last = (window[0], window[-1]) if isinstance(window, tuple) and window else (first_day, last_day)
st.caption("Posted purchases by business day (UTC); money in US dollars.")

groups = data.activity("daily", first=first, last=last, mcc_group=None)
by_group = (
    groups[groups["mcc_group"] != "all"]
    .groupby("mcc_group", as_index=False)[["purchase_volume_cents", "purchase_count"]]
    .sum()
)
by_group["average_ticket_cents"] = (by_group["purchase_volume_cents"] / by_group["purchase_count"]).round()
totals = groups[groups["mcc_group"] == "all"]
volume, purchases = int(totals["purchase_volume_cents"].sum()), int(totals["purchase_count"].sum())
cols = st.columns(3)
cols[0].metric("Purchase volume", ui.dollars(volume), border=True)
cols[1].metric("Purchases", ui.count(purchases), border=True)
cols[2].metric("Average ticket", ui.dollars(round(volume / purchases) if purchases else None), border=True)

group_dollars = ui.money_frame(by_group)
left, right = st.columns(2)
with left:
    ui.chart(
        group_dollars,
        x="mcc_group",
        y="purchase_volume_usd",
        x_type="N",
        kind="bar",
        sort="-y",
        title="Purchase volume by MCC group (USD)",
        x_title="MCC group",
        y_title="Purchase volume (USD)",
        key="spending_by_group",
    )
with right:
    ui.chart(
        group_dollars,
        x="mcc_group",
        y="average_ticket_usd",
        x_type="N",
        kind="bar",
        sort="-y",
        title="Average ticket by MCC group (USD)",
        x_title="MCC group",
        y_title="Average ticket (USD)",
        key="spending_ticket_by_group",
    )

left, right = st.columns(2)
with left:
    weekdays = data.weekday_pattern(first, last)
    ui.chart(
        ui.money_frame(weekdays),
        x="weekday",
        y="average_volume_usd",
        x_type="N",
        kind="bar",
        sort=list(weekdays["weekday"]),
        title="Average purchase volume by weekday (USD, ISO weekdays)",
        x_title="Weekday",
        y_title="Average volume per day (USD)",
        key="spending_weekday",
    )
with right:
    ui.chart(
        ui.money_frame(totals, ["period_start", "average_ticket_usd", "purchase_count"]),
        x="period_start",
        y="average_ticket_usd",
        title="Average ticket per day (USD)",
        x_title="Business day",
        y_title="Average ticket (USD)",
        key="spending_ticket_trend",
    )

st.subheader("Top merchants")
st.caption("By transactions seen since the merchant first appeared (all time), from `dim_merchants`.")
merchants = data.top_merchants()
st.dataframe(merchants, hide_index=True, key="spending_merchants")
ui.csv_download(merchants, "top_merchants", key="csv_top_merchants")
