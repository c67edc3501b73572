"""The monthly finance pack a card issuer's controller signs (issue 22, finding 11).

Four sections, each line beside the prior month and the change:

- **Receivables roll-forward** (``marts.rpt_finance_monthly``): opening + purchases - refunds
  - payments + returned payments + interest + fees - charge-offs + recoveries - recoveries
  returned = closing, every line beside the ledger's own figure (the difference, which the
  blocking checks hold at 0 before the marts are published).
- **Income** (``marts.rpt_revenue_monthly``): interest, late fees, returned-payment fees, and
  losses as the FFIEC Call Report (Schedule RI-B) has them: gross charge-offs, recoveries, net.
- **Payments** (``marts.rpt_payments``, the month's days): made, succeeded, failed, returned,
  by kind against the statement paid, autopay.
- **Delinquency** (``marts.rpt_delinquency``): accounts and balances by bucket at the month's
  last day, the roll rates into it, charge-offs during the month.

Files: an XLSX with one sheet per section (and the daily schedule and the activity by
category as supporting sheets), a CSV with the same four sections stacked (``section, line,
unit, this_month, prior_month, change``), and a PDF with the sections and two charts with
labelled axes and units. Money is exact dollars (``Decimal``), never floats; the bytes are the
same on every run of the same month.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import psycopg

from pipelines.reports import CENTS

USD, COUNT, RATE = "USD", "count", "rate"
CENT = Decimal("0.01")
COLUMNS = ("line", "unit", "this_month", "prior_month", "change")


@dataclass(frozen=True)
class Line:
    label: str
    column: str
    unit: str
    sign: int = 1  # how the line enters the roll-forward (refunds, payments, … are shown negative)
    tie: str | None = None  # the column holding its difference with the ledger


ROLL_FORWARD = (
    Line("Opening receivables", "opening_receivables_cents", USD),
    Line("Purchases", "purchases_cents", USD, 1, "purchases_difference_cents"),
    Line("Refunds", "refunds_cents", USD, -1, "refunds_difference_cents"),
    Line("Payments", "payments_cents", USD, -1, "payments_difference_cents"),
    Line("Returned payments", "returned_payments_cents", USD, 1, "returned_payments_difference_cents"),
    Line("Interest", "interest_cents", USD, 1, "interest_difference_cents"),
    Line("Fees", "fees_cents", USD, 1, "fees_difference_cents"),
    Line("Charge-offs", "charge_offs_cents", USD, -1, "charge_offs_difference_cents"),
    Line("Recoveries", "recoveries_cents", USD, 1, "recoveries_difference_cents"),
    Line("Recoveries returned", "recoveries_returned_cents", USD, -1, "recoveries_returned_difference_cents"),
    Line("Closing receivables", "closing_receivables_cents", USD),
)
INCOME = (
    Line("Interest income", "interest_income_cents", USD),
    Line("Late fees", "late_fee_income_cents", USD),
    Line("Returned-payment and other fees", "other_fee_income_cents", USD),
    Line("Total income", "total_income_cents", USD),
    Line("Gross charge-offs", "charged_off_cents", USD),
    Line("Recoveries", "recoveries_cents", USD),
    Line("Net charge-offs", "net_charge_offs_cents", USD),
    Line("Income less net charge-offs", "income_less_charge_offs_cents", USD),
)
PAYMENTS = (
    Line("Payments made", "payments_count", COUNT),
    Line("Succeeded", "succeeded_count", COUNT),
    Line("Amount received", "succeeded_cents", USD),
    Line("Failed", "failed_count", COUNT),
    Line("Amount failed", "failed_cents", USD),
    Line("Returned (refunded or disputed)", "returned_count", COUNT),
    Line("Amount returned", "returned_cents", USD),
    Line("Paid the statement balance in full", "full_count", COUNT),
    Line("Paid more than the minimum", "partial_count", COUNT),
    Line("Paid the minimum", "minimum_count", COUNT),
    Line("Paid less than the minimum", "below_minimum_count", COUNT),
    Line("Paid before a first statement", "no_statement_count", COUNT),
    Line("By autopay", "autopay_count", COUNT),
    Line("Amount by autopay", "autopay_succeeded_cents", USD),
)
BUCKETS = (
    ("Current", "current_count", None),
    ("1-29 days past due", "dpd_1_29_count", "dpd_1_29_balance_cents"),
    ("30-59 days past due", "dpd_30_59_count", "dpd_30_59_balance_cents"),
    ("60-89 days past due", "dpd_60_89_count", "dpd_60_89_balance_cents"),
    ("90+ days past due", "dpd_90_plus_count", "dpd_90_plus_balance_cents"),
)
DELINQUENCY = (
    Line("Accounts with a balance or past due", "accounts_count", COUNT),
    *(Line(f"Accounts {label.lower()}", count, COUNT) for label, count, _ in BUCKETS),
    Line("Receivables", "balance_cents", USD),
    *(Line(f"Balances {label}", balance, USD) for label, _, balance in BUCKETS if balance),
    Line("Share of receivables 30+ days past due", "dpd_30_plus_balance_rate", RATE),
    Line("Roll rate current to 1-29", "roll_rate_current_to_1_29", RATE),
    Line("Roll rate 1-29 to 30-59", "roll_rate_1_29_to_30_59", RATE),
    Line("Roll rate 30-59 to 60-89", "roll_rate_30_59_to_60_89", RATE),
    Line("Roll rate 60-89 to 90+", "roll_rate_60_89_to_90_plus", RATE),
    Line("Roll rate 90+ to charge-off", "roll_rate_90_plus_to_charge_off", RATE),
    Line("Accounts charged off in the month", "month_charge_offs_count", COUNT),
    Line("Charged off in the month", "month_charged_off_cents", USD),
)

_PAYMENT_SUMS = ", ".join(f"coalesce(sum({line.column}), 0)::bigint as {line.column}" for line in PAYMENTS)
QUERIES = {
    "Roll-forward": "select * from marts.rpt_finance_monthly where period_start = %s",
    "Income": "select * from marts.rpt_revenue_monthly where period_start = %s",
    "Payments": f"""
        select {_PAYMENT_SUMS} from marts.rpt_payments
        where payment_date >= %s and payment_date < (%s::date + interval '1 month')
    """,
    # The month's last day in the mart (its end when the month is closed), and what the month
    # charged off: rpt_delinquency's charge-offs are per day.
    "Delinquency": """
        with month_days as (
            select * from marts.rpt_delinquency
            where date_day >= %s and date_day < (%s::date + interval '1 month')
        )
        select last_day.*, sums.month_charge_offs_count, sums.month_charged_off_cents
        from (select * from month_days order by date_day desc limit 1) as last_day,
             (select coalesce(sum(charge_offs_count), 0)::bigint as month_charge_offs_count,
                     coalesce(sum(charged_off_cents), 0)::bigint as month_charged_off_cents
              from month_days) as sums
    """,
}
SECTIONS = {"Roll-forward": ROLL_FORWARD, "Income": INCOME, "Payments": PAYMENTS, "Delinquency": DELINQUENCY}


def prior_month(start: date) -> date:
    return (start - timedelta(days=1)).replace(day=1)


def _row(conn: psycopg.Connection[Any], section: str, month: date) -> dict[str, Any]:
    params: tuple[Any, ...] = (month,) if QUERIES[section].count("%s") == 1 else (month, month)
    cursor = conn.execute(QUERIES[section], params)
    found = cursor.fetchone()
    if found is None:
        return {}
    return dict(zip([c.name for c in cursor.description or []], found, strict=True))


def _value(row: dict[str, Any], line: Line) -> Decimal | int | None:
    raw = row.get(line.column)
    if raw is None:
        return None if line.unit == RATE else (Decimal("0.00") if line.unit == USD else 0)
    if line.unit == USD:
        return (Decimal(int(raw)) * line.sign / CENTS).quantize(Decimal("0.01"))
    if line.unit == RATE:
        return Decimal(raw).quantize(Decimal("0.0001"))
    return int(raw)


def _change(now: Decimal | int | None, before: Decimal | int | None) -> Decimal | int | None:
    return None if now is None or before is None else now - before


def _text(value: Decimal | int | None) -> str | None:
    return None if value is None else str(value)


def build(conn: psycopg.Connection[Any], start: date) -> dict[str, pl.DataFrame]:
    """Each section of the month starting ``start``, beside the prior month: one frame per section."""
    prior = prior_month(start)
    sections: dict[str, pl.DataFrame] = {}
    for section, lines in SECTIONS.items():
        now, before = _row(conn, section, start), _row(conn, section, prior)
        records = []
        for line in lines:
            this_month, prior_value = _value(now, line), _value(before, line)
            record: dict[str, str | None] = {
                "line": line.label,
                "unit": line.unit,
                "this_month": _text(this_month),
                "prior_month": _text(prior_value),
                "change": _text(_change(this_month, prior_value)),
            }
            if section == "Roll-forward":
                tie = Decimal(int(now.get(line.tie) or 0)) / CENTS if line.tie else None
                record["difference_with_ledger"] = _text(None if tie is None else tie.quantize(CENT))
            records.append(record)
        # Strings as written (exact dollars, counts, rates): a column mixing units stays exact.
        sections[section] = pl.DataFrame(records, schema=dict.fromkeys(records[0], pl.String), orient="row")
    return sections


def csv_bytes(sections: dict[str, pl.DataFrame]) -> bytes:
    """The four sections stacked: ``section, line, unit, this_month, prior_month, change``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", *COLUMNS))
    for section, frame in sections.items():
        for row in frame.select(COLUMNS).iter_rows():
            writer.writerow((section, *("" if v is None else v for v in row)))
    return buffer.getvalue().encode()


def figure(sections: dict[str, pl.DataFrame], section: str, line: str, column: str = "this_month") -> str:
    """One figure as written in the pack (a string: exact dollars, a count, a rate)."""
    row = sections[section].filter(pl.col("line") == line)
    value = row[column][0] if row.height else None
    return "" if value is None else str(value)


# The PDF ------------------------------------------------------------------------------------


def _usd(text: str) -> str:
    if not text:
        return "-"
    amount = Decimal(text)
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def _shown(unit: str, text: str | None) -> str:
    if text is None or text == "":
        return "-"
    if unit == USD:
        return _usd(text)
    if unit == RATE:
        return f"{Decimal(text) * 100:.2f} %"
    return f"{int(text):,}"


def pdf_bytes(
    sections: dict[str, pl.DataFrame],
    *,
    title: str,
    stamp: Any,
    months: tuple[str, str],
    daily_volume: Sequence[tuple[int, int]],
    note: str,
) -> bytes:
    """The pack on paper: each section as a table (this month, prior month, change) and two charts."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(stamp)
    pdf.set_title(title)
    pdf.set_author("cardportal")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(0, 5, note, new_x="LMARGIN", new_y="NEXT")
    for section, frame in sections.items():
        if section == "Payments":
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, section, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 9)
        widths = (82, 34, 34, 34)
        for width, heading in zip(widths, ("", months[0], months[1], "Change"), strict=True):
            pdf.cell(width, 6, heading, border="B", align="R" if heading else "L")
        pdf.ln()
        pdf.set_font("Helvetica", "", 9)
        for row in frame.iter_rows(named=True):
            pdf.cell(widths[0], 5.5, row["line"])
            for width, key in zip(widths[1:], ("this_month", "prior_month", "change"), strict=True):
                pdf.cell(width, 5.5, _shown(row["unit"], row[key]), align="R")
            pdf.ln()
    pdf.add_page()
    _bar_chart(
        pdf,
        title=f"Daily purchase volume, {months[0]}",
        x_label="Day of the month",
        y_label="Purchase volume (USD)",
        categories=[f"{day}" for day, _ in daily_volume],
        series=[(months[0], [Decimal(cents) / CENTS for _, cents in daily_volume], (46, 110, 180))],
        value_format=lambda v: f"${v:,.0f}",
    )
    rows = {row["line"]: row for row in sections["Delinquency"].iter_rows(named=True)}
    bucket_rows = [rows[f"Accounts {label.lower()}"] for label, _, _ in BUCKETS]
    _bar_chart(
        pdf,
        title="Accounts by delinquency bucket at the month's end",
        x_label="Days past due",
        y_label="Accounts (count)",
        categories=[label.removesuffix(" days past due") for label, _, _ in BUCKETS],
        series=[
            (months[0], [Decimal(r["this_month"] or 0) for r in bucket_rows], (46, 110, 180)),
            (months[1], [Decimal(r["prior_month"] or 0) for r in bucket_rows], (170, 170, 170)),
        ],
        value_format=lambda v: f"{v:,.0f}",
    )
    return bytes(pdf.output())


def _bar_chart(
    pdf: Any,
    *,
    title: str,
    x_label: str,
    y_label: str,
    categories: list[str],
    series: list[tuple[str, list[Decimal], tuple[int, int, int]]],
    value_format: Any,
) -> None:
    """Grouped bars with a y axis (0, half, peak, in the unit named) and a labelled x axis."""
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    left, top, width, height = 35.0, pdf.get_y() + 4, 160.0, 65.0
    peak = max((v for _, values, _ in series for v in values), default=Decimal(0)) or Decimal(1)
    pdf.set_draw_color(120, 120, 120)
    pdf.line(left, top, left, top + height)
    pdf.line(left, top + height, left + width, top + height)
    pdf.set_font("Helvetica", "", 7)
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        y = top + height - float(fraction) * height
        pdf.line(left - 1.5, y, left, y)
        label = value_format(peak * fraction)
        pdf.text(left - 2.5 - pdf.get_string_width(label), y + 1, label)
    slot = width / max(len(categories), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for index, category in enumerate(categories):
        for number, (_, values, color) in enumerate(series):
            value = values[index]
            bar_height = float(value / peak) * height if peak else 0.0
            x = left + index * slot + slot * 0.1 + number * bar
            if bar_height > 0:
                pdf.set_fill_color(*color)
                pdf.rect(x, top + height - bar_height, bar, bar_height, style="F")
        if len(categories) <= 12 or index % 2 == 0:
            centre = left + index * slot + slot / 2
            pdf.text(centre - pdf.get_string_width(category) / 2, top + height + 4, category)
    pdf.set_font("Helvetica", "", 8)
    pdf.text(left + width / 2 - pdf.get_string_width(x_label) / 2, top + height + 10, x_label)
    # The y axis' title, turned a quarter.
    with pdf.rotation(90, x=left - 22, y=top + height / 2 + pdf.get_string_width(y_label) / 2):
        pdf.text(left - 22, top + height / 2 + pdf.get_string_width(y_label) / 2, y_label)
    legend_x = left + width - 60
    for number, (name, _, color) in enumerate(series):
        pdf.set_fill_color(*color)
        pdf.rect(legend_x + number * 30, top - 3, 3, 3, style="F")
        pdf.text(legend_x + number * 30 + 4.5, top - 0.5, name)
    pdf.set_y(top + height + 16)
