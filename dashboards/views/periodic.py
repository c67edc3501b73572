"""The Daily, Weekly and Monthly reports: one page body, three grains."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data, reports, ui

MIME = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
TREND_PERIODS = {"daily": 30, "weekly": 12, "monthly": 12}


def render(grain: str) -> None:
    title = grain.capitalize()
    st.title(f"{title} report")
    st.caption(
        {
            "daily": "One business day (UTC).",
            "weekly": "ISO weeks: Monday to Sunday, numbered as ISO 8601.",
            "monthly": "Calendar months.",
        }[grain]
        + " Compared with the prior period. Money in US dollars."
    )
    # Every period's totals in one query: the periods offered, this one and the prior, the trend.
    series = data.activity(grain) if data.mart_exists(data.GRAINS[grain]) else pd.DataFrame()
    if series.empty:
        ui.empty_state()
        return
    available = list(series["period_start"])[::-1]  # newest first
    start = st.selectbox(
        "Period", available, format_func=lambda d: ui.period_label(grain, d), key=f"{grain}_period"
    )
    prior = ui.prior_start(grain, start)
    totals = series.set_index("period_start")
    current = totals.loc[start]
    before = totals.loc[prior] if prior in totals.index else None

    def prior_value(column: str) -> Any:
        return None if before is None else before[column]

    st.caption(
        f"Prior period: {ui.period_label(grain, prior)}" + ("" if before is not None else " (no activity)")
    )
    cols = ui.metric_row(5)
    cols[0].metric(
        "Purchase volume",
        ui.dollars(current["purchase_volume_cents"]),
        ui.delta_money(current["purchase_volume_cents"], prior_value("purchase_volume_cents")),
        border=True,
    )
    cols[1].metric(
        "Purchases",
        ui.count(current["purchase_count"]),
        ui.delta_count(current["purchase_count"], prior_value("purchase_count")),
        border=True,
    )
    cols[2].metric(
        "Active accounts",
        ui.count(current["active_accounts"]),
        ui.delta_count(current["active_accounts"], prior_value("active_accounts")),
        border=True,
    )
    cols[3].metric(
        "Average ticket",
        ui.dollars(current["average_ticket_cents"]),
        ui.delta_money(current["average_ticket_cents"], prior_value("average_ticket_cents")),
        border=True,
    )
    cols[4].metric(
        "Approval rate",
        ui.percent(current["approval_rate"]),
        ui.delta_points(current["approval_rate"], prior_value("approval_rate")),
        border=True,
    )
    balance = data.receivable_at(ui.period_end(grain, start))
    if balance is not None:
        st.caption(
            f"Outstanding receivables at {balance['balance_date']:%d %b %Y}: "
            f"**{ui.dollars(balance['outstanding_balance_cents'])}**, utilisation "
            f"{ui.percent(balance['utilisation_rate'])}; refunds this period "
            f"{ui.dollars(current['refund_volume_cents'])}."
        )

    left, right = st.columns(2)
    with left:
        groups = data.activity(grain, first=start, last=start, mcc_group=None)
        groups = groups[groups["mcc_group"] != "all"]
        ui.chart(
            ui.money_frame(groups, ["mcc_group", "purchase_volume_usd", "purchase_count"]),
            x="mcc_group",
            y="purchase_volume_usd",
            x_type="N",
            kind="bar",
            sort="-y",
            title="Purchase volume by MCC group (USD)",
            x_title="MCC group",
            y_title="Purchase volume (USD)",
            key=f"{grain}_by_group",
        )
    with right:
        trend = series[series["period_start"] <= start].tail(TREND_PERIODS[grain])
        ui.chart(
            ui.money_frame(trend, ["period_start", "purchase_volume_usd", "purchase_count"]),
            x="period_start",
            y="purchase_volume_usd",
            kind="bar" if grain != "daily" else "line",
            title=f"Purchase volume, last {TREND_PERIODS[grain]} periods (USD)",
            x_title="Period start",
            y_title="Purchase volume (USD)",
            key=f"{grain}_trend",
        )

    comparison = pd.DataFrame(
        {
            "figure": [
                "purchase volume (USD)",
                "purchases",
                "refunds (USD)",
                "active accounts",
                "approval rate",
            ],
            "this period": [
                ui.dollars(current["purchase_volume_cents"]),
                ui.count(current["purchase_count"]),
                ui.dollars(current["refund_volume_cents"]),
                ui.count(current["active_accounts"]),
                ui.percent(current["approval_rate"]),
            ],
            "prior period": [
                ui.dollars(prior_value("purchase_volume_cents")),
                ui.count(prior_value("purchase_count")),
                ui.dollars(prior_value("refund_volume_cents")),
                ui.count(prior_value("active_accounts")),
                ui.percent(prior_value("approval_rate")),
            ],
        }
    )
    st.subheader("This period against the prior one")
    st.dataframe(comparison, hide_index=True, key=f"{grain}_comparison")

    if grain == "monthly":
        _finance_pack(start, prior)

    st.subheader("Report file")
    files = data.report_files(grain, start)
    if files.empty:
        st.info(
            f"No {grain} report file registered for {ui.period_label(grain, start)} yet: the pipelines "
            "write it once the period has closed."
        )
    for index, row in enumerate(files.itertuples()):
        label = f"{row.name}.{row.format} ({int(row.size_bytes):,} bytes)"
        # Through the API as the signed-in staff member: audited as report.downloaded.
        reports.download(
            str(row.id),
            f"Download {label}",
            file_name=str(row.path).rsplit("/", 1)[-1],
            mime=MIME.get(str(row.format), "application/octet-stream"),
            key=f"{grain}_file_{index}",
        )


BUCKETS = (
    ("Current", "current_count"),
    ("1-29", "dpd_1_29_count"),
    ("30-59", "dpd_30_59_count"),
    ("60-89", "dpd_60_89_count"),
    ("90+", "dpd_90_plus_count"),
)


def _finance_pack(start: Any, prior: Any) -> None:
    """The finance pack's roll-forward beside the prior month, and month-end delinquency."""
    if not data.mart_exists("rpt_finance_monthly"):
        ui.not_built("The receivables roll-forward", "rpt_finance_monthly")
        return
    months = data.finance_months([start, prior]).set_index("period_start")
    if start not in months.index:
        return
    now = months.loc[start]
    before = months.loc[prior] if prior in months.index else None
    st.subheader("Receivables roll-forward")
    st.caption(
        "Lines that lower the receivables are negative: the opening plus the lines is the closing. "
        "Opening and closing are the ledger's posted customer receivables."
    )
    table = pd.DataFrame(
        {
            "line": [label for label, _, _ in data.ROLL_FORWARD_LINES],
            "this month": [ui.dollars(sign * now[column]) for _, column, sign in data.ROLL_FORWARD_LINES],
            "prior month": [
                ui.dollars(None if before is None else sign * before[column])
                for _, column, sign in data.ROLL_FORWARD_LINES
            ],
        }
    )
    st.dataframe(table, hide_index=True, key="monthly_roll_forward")
    if int(now["ledger_differences_cents"]) == 0:
        st.success("Every line equals the ledger's, to the cent.", icon=":material/check_circle:")
    else:
        st.error(
            f"The roll-forward differs from the ledger by {ui.dollars(now['ledger_differences_cents'])}.",
            icon=":material/error:",
        )
    ends = data.delinquency_month_ends([start, prior])
    if ends.empty:
        return
    ends["month"] = ends["month"].map(lambda m: ui.period_label("monthly", m))
    frame = pd.DataFrame(
        [
            {"bucket": bucket, "month": row["month"], "accounts": int(row[column])}
            for _, row in ends.iterrows()
            for bucket, column in BUCKETS
        ]
    )
    st.subheader("Delinquency at the month's end")
    st.dataframe(
        frame.pivot(index="bucket", columns="month", values="accounts")
        .reindex([bucket for bucket, _ in BUCKETS])
        .reset_index(),
        hide_index=True,
        key="monthly_delinquency_table",
    )
    ui.chart(
        frame[frame["month"] == ui.period_label("monthly", start)],
        x="bucket",
        y="accounts",
        x_type="N",
        kind="bar",
        sort=[bucket for bucket, _ in BUCKETS],
        title="Accounts by delinquency bucket at the month's end",
        x_title="Days past due",
        y_title="Accounts (count)",
        y_format=",d",
        key="monthly_delinquency_buckets",
    )
