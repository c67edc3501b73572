"""Credit risk: utilisation and receivables over time, credit limits, delinquency and roll rates."""

from __future__ import annotations

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
cols = ui.metric_row(4)
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
    stacked = ui.money_frame(history, ["balance_date", "outstanding_balance_usd", "pending_holds_usd"]).melt(
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
    ui.vega_chart(
        limits[limits["status"] == "active"],
        {
            "mark": {"type": "bar"},
            "encoding": {
                "x": {
                    "bin": {"maxbins": 20},
                    "field": "credit_limit_usd",
                    "title": "Credit limit (USD)",
                    "type": "quantitative",
                },
                "y": {"aggregate": "count", "title": "Accounts", "type": "quantitative"},
            },
            "title": "Accounts by credit limit (USD)",
        },
    )
    ui.csv_download(limits, "credit_limits", key="csv_credit_limits")

st.subheader("Delinquency, roll rates and charge-offs")
if data.mart_exists("rpt_delinquency"):
    delinquency = data.delinquency_daily()
    if delinquency.empty:
        ui.empty_state("Delinquency:")
    else:
        today = delinquency.iloc[-1]
        cols = ui.metric_row(4)
        past_due = today["accounts_count"] - today["current_count"]
        cols[0].metric(
            "Past due accounts",
            f"{ui.count(past_due)} of {ui.count(today['accounts_count'])}",
            border=True,
            help="Accounts with a minimum payment unmet after its due date, at the latest day's end.",
        )
        cols[1].metric("30+ days past due", ui.count(today["dpd_30_plus_count"]), border=True)
        cols[2].metric(
            "30+ balance rate",
            ui.percent(today["dpd_30_plus_balance_rate"]),
            border=True,
            help="Balances 30 or more days past due / all balances.",
        )
        cols[3].metric("Charged off", ui.dollars(delinquency["charged_off_cents"].sum()), border=True)
        buckets = delinquency[
            ["date_day", "dpd_1_29_count", "dpd_30_59_count", "dpd_60_89_count", "dpd_90_plus_count"]
        ].melt("date_day", var_name="bucket", value_name="accounts")
        ui.chart(
            buckets,
            x="date_day",
            y="accounts",
            color="bucket",
            kind="area",
            y_format=",d",
            title="Past due accounts per day by bucket (days past due)",
            x_title="Business day",
            y_title="Accounts",
            key="risk_delinquency",
        )
        rolls = delinquency[delinquency["is_month_end"]][
            [
                "date_day",
                "roll_rate_current_to_1_29",
                "roll_rate_1_29_to_30_59",
                "roll_rate_30_59_to_60_89",
                "roll_rate_60_89_to_90_plus",
                "roll_rate_90_plus_to_charge_off",
            ]
        ]
        st.caption(
            "Roll rates month over month: the share of a bucket's accounts one bucket worse a month on."
        )
        st.dataframe(rolls, hide_index=True, key="risk_roll_rates")
        ui.csv_download(delinquency, "rpt_delinquency", key="csv_delinquency")
else:
    ui.not_built("Delinquency buckets", "rpt_delinquency")
st.caption(
    "A per-account utilisation distribution needs a per-account mart; the portfolio rate above comes "
    "from `rpt_receivables_daily`."
)
