"""Overview: the latest day, week and month against the period before, from the activity marts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from dashboards import data, ui


def value(row: Any, column: str) -> Any:
    return None if row is None else row[column]


st.title("Overview")
# The 90-day trend up to the latest day (which holds the daily rows) in one query.
trend = data.latest_activity("daily", days=90) if data.mart_exists("rpt_card_activity_daily") else None
if trend is None or trend.empty:
    ui.empty_state()
    st.stop()

as_of = trend["period_start"].iloc[-1]
st.caption(
    f"As of **{as_of:%a %d %b %Y}**, the latest business day in the marts. Weeks are ISO weeks "
    "(Monday to Sunday), months calendar months; the current week and month are to date, compared "
    "with the whole prior period. Money in US dollars."
)

# The page's figures in a few queries: the 90-day trend (which holds the daily rows), the week's
# and month's rows in one, every receivables balance in one, every month's revenue in one.
GRAINS = (("daily", "Today"), ("weekly", "This week"), ("monthly", "This month"))
starts = {
    "daily": as_of,
    "weekly": as_of - timedelta(days=as_of.weekday()),
    "monthly": as_of.replace(day=1),
}
priors = {grain: ui.prior_start(grain, start) for grain, start in starts.items()}
longer = data.activity_periods([(grain, priors[grain], starts[grain]) for grain in ("weekly", "monthly")])
activity_rows = {
    "daily": trend[(trend["period_start"] >= priors["daily"]) & (trend["period_start"] <= as_of)],
    **longer,
}
balances = data.receivables_at([as_of, *(ui.period_end(grain, priors[grain]) for grain, _ in GRAINS)])
revenues = (
    data.monthly_revenue_at([start.replace(day=1) for start in starts.values()])
    if data.mart_exists("rpt_revenue_monthly")
    else {}
)

for grain, heading in GRAINS:
    start, prior = starts[grain], priors[grain]
    rows = activity_rows[grain].set_index("period_start")
    current = rows.loc[start] if start in rows.index else None
    before = rows.loc[prior] if prior in rows.index else None
    balance = balances[as_of]
    balance_before = balances[ui.period_end(grain, prior)]

    st.subheader(f"{heading}: {ui.period_label(grain, start)}")
    columns = ui.metric_row(5)
    columns[0].metric(
        "Purchase volume",
        ui.dollars(value(current, "purchase_volume_cents")),
        ui.delta_money(value(current, "purchase_volume_cents"), value(before, "purchase_volume_cents")),
        border=True,
    )
    columns[1].metric(
        "Active accounts",
        ui.count(value(current, "active_accounts")),
        ui.delta_count(value(current, "active_accounts"), value(before, "active_accounts")),
        border=True,
    )
    columns[2].metric(
        "Approval rate",
        ui.percent(value(current, "approval_rate")),
        ui.delta_points(value(current, "approval_rate"), value(before, "approval_rate")),
        border=True,
        help="Card authorizations approved / asked for.",
    )
    columns[3].metric(
        "Outstanding receivables",
        ui.dollars(value(balance, "outstanding_balance_cents")),
        ui.delta_money(
            value(balance, "outstanding_balance_cents"), value(balance_before, "outstanding_balance_cents")
        ),
        delta_color="off",
        border=True,
        help="Posted balances owed at the day's end; the delta is against the prior period's end.",
    )
    if data.mart_exists("rpt_revenue_monthly"):
        columns[4].metric("Revenue (month)", ui.dollars(revenues[start.replace(day=1)]), border=True)
    else:
        columns[4].metric(
            "Revenue (not built yet)",
            ui.MISSING,
            border=True,
            help="Needs the revenue mart `marts.rpt_revenue_monthly` (billing: interest and fees).",
        )

ui.chart(
    ui.money_frame(trend, ["period_start", "purchase_volume_usd", "purchase_count", "active_accounts"]),
    x="period_start",
    y="purchase_volume_usd",
    title="Purchase volume per day, last 90 days (USD)",
    x_title="Business day",
    y_title="Purchase volume (USD)",
    key="overview_daily_volume",
)
