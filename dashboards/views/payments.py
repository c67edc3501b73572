"""Payments: payment rate, full/minimum/partial mix, failed and returned payments, autopay uptake."""

from __future__ import annotations

import streamlit as st

from dashboards import data, ui

st.title("Payments")
if not data.mart_exists("rpt_payments"):
    ui.not_built("Payments", "rpt_payments")
    st.stop()
payments = data.payments_daily()
if payments.empty:
    ui.empty_state()
    st.stop()

latest = payments.iloc[-1]
st.caption(
    f"From **{payments['payment_date'].iloc[0]:%d %b %Y}** to **{latest['payment_date']:%d %b %Y}** "
    "(UTC business days, by the day a payment was asked for); money in US dollars."
)
cols = ui.metric_row(5)
cols[0].metric("Payments received", ui.dollars(payments["succeeded_cents"].sum()), border=True)
cols[1].metric(
    "Payment rate (latest day)",
    ui.percent(latest["payment_rate"], 2),
    border=True,
    help="Succeeded payments / outstanding receivables at the previous day's end.",
)
cols[2].metric("Failed payments", ui.count(payments["failed_count"].sum()), border=True)
cols[3].metric(
    "Returned payments",
    ui.dollars(payments["returned_cents"].sum()),
    border=True,
    help="Payments refunded or disputed, re-debited to the account.",
)
cols[4].metric(
    "Autopay uptake",
    ui.percent(latest["autopay_uptake_rate"]),
    border=True,
    help="Accounts with autopay on / open accounts, at the latest day.",
)

mix = (
    payments[["full_count", "partial_count", "minimum_count", "below_minimum_count", "no_statement_count"]]
    .sum()
    .rename(lambda c: c.removesuffix("_count"))
    .rename_axis("kind")
    .reset_index(name="payments")
)
left, right = st.columns(2)
with left:
    ui.chart(
        mix,
        x="kind",
        y="payments",
        kind="bar",
        x_type="N",
        y_format=",d",
        title="Succeeded payments against the statement they paid",
        x_title="Kind (full balance, above minimum, minimum, below minimum, before any statement)",
        y_title="Payments",
        key="payments_mix",
        sort=["full", "partial", "minimum", "below_minimum", "no_statement"],
    )
with right:
    ui.chart(
        ui.money_frame(payments, ["payment_date", "succeeded_usd", "failed_usd", "returned_usd"]).melt(
            "payment_date", var_name="outcome", value_name="usd"
        ),
        x="payment_date",
        y="usd",
        color="outcome",
        kind="bar",
        title="Payments per day: succeeded, failed, returned (USD)",
        x_title="Business day",
        y_title="USD",
        key="payments_outcomes",
    )
st.dataframe(ui.money_frame(payments), hide_index=True, key="payments_table")
ui.csv_download(payments, "rpt_payments", key="csv_payments")
