"""Credit risk: utilisation and receivables over time, credit limits; delinquency once billing exists."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards import data, ui

st.title("Credit risk")
if not data.mart_exists("rpt_receivables_daily"):
    ui.empty_state()
    st.stop()
history = data.receivables()
if history.empty:
    ui.empty_state()
    st.stop()

latest = history.iloc[-1]
before = history.iloc[-2] if len(history) > 1 else None
st.caption(f"At the end of **{latest['balance_date']:%a %d %b %Y}** (UTC); money in US dollars.")
cols = st.columns(4)
cols[0].metric(
    "Outstanding receivables",
    ui.dollars(latest["outstanding_balance_cents"]),
    None
    if before is None
    else ui.delta_money(latest["outstanding_balance_cents"], before["outstanding_balance_cents"]),
    delta_color="off",
    border=True,
)
cols[1].metric(
    "Utilisation",
    ui.percent(latest["utilisation_rate"]),
    None if before is None else ui.delta_points(latest["utilisation_rate"], before["utilisation_rate"]),
    delta_color="inverse",
    border=True,
    help="(posted balances + open holds) / credit limits of active accounts",
)
cols[2].metric("Credit limits", ui.dollars(latest["total_credit_limit_cents"]), border=True)
cols[3].metric(
    "Accounts with a balance",
    f"{ui.count(latest['accounts_with_balance'])} of {ui.count(latest['open_accounts'])}",
    border=True,
)

left, right = st.columns(2)
with left:
    ui.chart(
        history[["balance_date", "utilisation_rate"]],
        x="balance_date",
        y="utilisation_rate",
        y_format=".1%",
        title="Portfolio utilisation per day",
        x_title="Business day",
        y_title="Utilisation (% of limits)",
        key="risk_utilisation",
    )
with right:
    stacked = ui.money_frame(history)[["balance_date", "outstanding_balance_usd", "pending_holds_usd"]].melt(
        "balance_date", var_name="balance", value_name="usd"
    )
    ui.chart(
        stacked,
        x="balance_date",
        y="usd",
        color="balance",
        kind="area",
        title="Receivables: posted balances and open holds (USD)",
        x_title="Business day",
        y_title="USD",
        key="risk_receivables",
    )

limits = ui.money_frame(data.credit_limits())
if not limits.empty:
    st.subheader("Credit limits of open accounts")
    histogram = (
        alt.Chart(limits[limits["status"] == "active"], title="Accounts by credit limit (USD)")
        .mark_bar()
        .encode(
            x=alt.X("credit_limit_usd:Q", bin=alt.Bin(maxbins=20), title="Credit limit (USD)"),
            y=alt.Y("count():Q", title="Accounts"),
        )
    )
    st.altair_chart(histogram, width="stretch")
    ui.csv_download(limits, "credit_limits", key="csv_credit_limits")

st.subheader("Delinquency, roll rates and charge-offs")
if data.mart_exists("rpt_delinquency_daily"):
    buckets = ui.money_frame(data.query("select * from marts.rpt_delinquency_daily order by 1"))
    st.dataframe(buckets, hide_index=True, key="risk_delinquency")
else:
    ui.not_built("Delinquency buckets", "rpt_delinquency_daily")
st.caption(
    "A per-account utilisation distribution needs a per-account mart; the portfolio rate above comes "
    "from `rpt_receivables_daily`."
)
