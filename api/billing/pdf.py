"""The statement as the customer receives it: a PDF laid out like a US card statement.

fpdf2 (pure Python, maintained) draws it with the core Helvetica font; the
order of the sections follows Regulation Z's periodic statement
(12 CFR 1026.7(b) and the forms of Appendix G-18): summary, payment
information with the late payment and minimum payment warnings, transactions,
fees and interest with their year-to-date totals, the interest charge
calculation.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from api.billing import rules
from api.billing.models import Statement
from api.network.models import Transaction
from cardportal.settings import SANDBOX_CREDIT_COUNSELING_PHONE

ISSUER = "cardportal"
_DESCRIPTIONS = {
    "interest": "INTEREST CHARGE ON PURCHASES",
    "fee": "LATE FEE",
    "payment": "PAYMENT - THANK YOU",
}


def dollars(cents: int) -> str:
    """Cents as a dollar string: 123456 -> "$1,234.56", -5 -> "-$0.05"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def whole_dollars(cents: int) -> str:
    """A whole number of dollars as the warning prints it: 328400 -> "$3,284" (cents dropped)."""
    return dollars(cents).removesuffix(".00") if cents % 100 == 0 else dollars(cents)


def long_date(day: date) -> str:
    return f"{day:%m/%d/%Y}"


def _describe(transaction: Transaction) -> str:
    if transaction.merchant_name:
        return transaction.merchant_name[:60]
    return _DESCRIPTIONS.get(transaction.type, transaction.type.upper())


class _Statement(FPDF):
    def __init__(self, statement: Statement) -> None:
        super().__init__(format="Letter")
        self.statement = statement
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(15, 15, 15)

    def header(self) -> None:
        s = self.statement
        self.set_font("Helvetica", "B", 15)
        self.cell(100, 8, f"{ISSUER} Card Statement", new_x=XPos.RIGHT, new_y=YPos.TOP)
        self.set_font("Helvetica", "", 9)
        self.cell(
            0,
            8,
            f"Account {s.account_id}",
            align="R",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.cell(
            0,
            5,
            f"Statement period {long_date(s.period_start)} - {long_date(s.period_end)}   "
            f"({s.days_in_period} days)",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.line(15, self.get_y() + 1, self.w - 15, self.get_y() + 1)
        self.ln(4)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.cell(0, 5, f"Page {self.page_no()}/{{nb}}", align="C")

    # -- building blocks --------------------------------------------------------------------

    def section(self, title: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", "B", 11)
        self.set_fill_color(225, 230, 240)
        self.cell(0, 7, title, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("Helvetica", "", 9)

    def row(self, label: str, value: str, *, x: float, width: float, bold: bool = False) -> None:
        self.set_x(x)
        self.set_font("Helvetica", "B" if bold else "", 9)
        self.cell(width * 0.62, 5.5, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
        self.cell(width * 0.38, 5.5, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _minimum_payment_warning(pdf: _Statement, s: Statement, credit_counseling_phone: str) -> None:
    """The warning of 12 CFR 1026.7(b)(12) laid out as model forms G-18(C)(1)-(3).

    The figures are ``rules.disclose_warning``'s: the period in months under 2 years, else
    whole years; dollars rounded to the whole dollar; the 36-month line only when the
    minimum takes more than 3 years after rounding (or never repays).
    """
    disclosure = rules.disclose_warning(
        minimum_only_months=s.minimum_only_months,
        minimum_only_total=s.minimum_only_total,
        pay_in_36_monthly=s.pay_in_36_monthly,
        pay_in_36_total=s.pay_in_36_total,
    )
    if disclosure is None:
        return
    pdf.section("Minimum Payment Warning")
    if disclosure.kind == "negative_amortization":
        # 12 CFR 1026.7(b)(12)(ii), model form G-18(C)(3).
        opening = (
            "Even if you make no more charges using this card, if you make only the minimum payment "
            "each month we estimate you will never pay off the balance shown on this statement because "
            "your payment will be less than the interest charged each month. If you make more than the "
            "minimum payment each period, you will pay less in interest and pay off your balance sooner."
        )
    else:
        opening = (
            "If you make only the minimum payment each period, you will pay more in interest and it "
            "will take you longer to pay off your balance. For example:"
        )
    pdf.multi_cell(0, 4.5, opening, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)
    pdf.set_font("Helvetica", "B", 9)
    widths = (70, 50, 60)
    for text, w in zip(
        (
            "If you make no additional charges using this card and each month you pay...",
            "You will pay off the balance shown on this statement in about...",
            "And you will end up paying an estimated total of...",
        ),
        widths,
        strict=True,
    ):
        pdf.multi_cell(w, 4, text, border=1, new_x=XPos.RIGHT, new_y=YPos.TOP, max_line_height=4)
    pdf.ln(12)
    pdf.set_font("Helvetica", "", 9)
    lines: list[tuple[str, str, str]] = []
    if disclosure.minimum_only_total is not None:
        lines.append(
            (
                "Only the minimum payment",
                disclosure.repayment_period,
                whole_dollars(disclosure.minimum_only_total),
            )
        )
    if disclosure.pay_in_36_monthly is not None and disclosure.pay_in_36_total is not None:
        total = whole_dollars(disclosure.pay_in_36_total)
        if disclosure.savings is not None:
            total += f" (Savings={whole_dollars(disclosure.savings)})"
        lines.append((whole_dollars(disclosure.pay_in_36_monthly), "3 years", total))
    for line in lines:
        for text, w in zip(line, widths, strict=True):
            pdf.cell(w, 6, text, border=1, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.ln(6)
    pdf.ln(1)
    pdf.multi_cell(
        0,
        4.5,
        f"If you would like information about credit counseling services, call {credit_counseling_phone}.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )


def render_statement_pdf(
    statement: Statement,
    transactions: Sequence[Transaction],
    *,
    holder_name: str | None = None,
    credit_counseling_phone: str = SANDBOX_CREDIT_COUNSELING_PHONE,
) -> bytes:
    s = statement
    pdf = _Statement(s)
    pdf.set_title(f"Statement {s.id}")
    pdf.set_author(ISSUER)
    pdf.set_creation_date(datetime.combine(s.period_end, datetime.min.time(), tzinfo=UTC))
    pdf.alias_nb_pages()
    pdf.add_page()
    if holder_name:
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 5, holder_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)

    # Summary box (left) and payment information (right), side by side.
    top, left_x, width = pdf.get_y(), 15.0, 88.0
    right_x = left_x + width + 4
    pdf.set_font("Helvetica", "B", 11)
    pdf.set_xy(left_x, top)
    pdf.cell(width, 7, "Account Summary", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    available = max(s.credit_limit - s.closing_balance, 0)
    summary = [
        ("Previous Balance", dollars(s.opening_balance), False),
        ("Payments", f"- {dollars(s.payments)}", False),
        ("Other Credits", f"- {dollars(s.refunds)}", False),
    ]
    if s.returned_payments:
        summary.append(("Returned Payments", f"+ {dollars(s.returned_payments)}", False))
    for label, value, bold in (
        *summary,
        ("Purchases", f"+ {dollars(s.purchases)}", False),
        ("Fees Charged", f"+ {dollars(s.fees)}", False),
        ("Interest Charged", f"+ {dollars(s.interest)}", False),
        ("New Balance", dollars(s.closing_balance), True),
        ("Credit Limit", dollars(s.credit_limit), False),
        ("Available Credit", dollars(available), False),
    ):
        pdf.row(label, value, x=left_x + 2, width=width - 4, bold=bold)
    left_bottom = pdf.get_y()
    pdf.rect(left_x, top, width, left_bottom - top + 2)

    pdf.set_xy(right_x, top)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(width, 7, "Payment Information", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for label, value, bold in (
        ("New Balance", dollars(s.closing_balance), True),
        *((("Past Due Amount", dollars(s.past_due_amount), True),) if s.past_due_amount else ()),
        ("Minimum Payment Due", dollars(s.minimum_payment), True),
        ("Payment Due Date", long_date(s.due_date), True),
    ):
        pdf.row(label, value, x=right_x + 2, width=width - 4, bold=bold)
    schedule = rules.late_fee_schedule(s.due_date)
    pdf.set_x(right_x + 2)
    pdf.set_font("Helvetica", "B", 8)
    pdf.multi_cell(
        width - 4,
        4,
        "Late Payment Warning: If we do not receive your minimum payment by the date listed above, "
        f"you may have to pay a late fee of up to {dollars(schedule.subsequent)}.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    right_bottom = pdf.get_y()
    pdf.rect(right_x, top, width, right_bottom - top + 2)
    pdf.set_y(max(left_bottom, right_bottom) + 5)

    _minimum_payment_warning(pdf, s, credit_counseling_phone)

    pdf.section("Transactions")
    pdf.set_font("Helvetica", "B", 9)
    for text, w, align in (
        ("Date", 28, "L"),
        ("Description", 100, "L"),
        ("Type", 25, "L"),
        ("Amount", 0, "R"),
    ):
        pdf.cell(w, 6, text, align=align, new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    if not transactions:
        pdf.cell(0, 6, "No transactions this period.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for t in transactions:
        signed = t.amount if t.type in rules.DEBIT_TYPES else -t.amount
        posted = (t.posted_at or t.created_at).astimezone(UTC).date()
        pdf.cell(28, 5.5, long_date(posted), new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.cell(100, 5.5, _describe(t), new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.cell(25, 5.5, t.type, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.cell(0, 5.5, dollars(signed), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.section("Fees")
    fee_lines = [t for t in transactions if t.type == "fee"]
    for t in fee_lines:
        pdf.row(
            f"{long_date((t.posted_at or t.created_at).astimezone(UTC).date())}  {_describe(t)}",
            dollars(t.amount),
            x=15,
            width=pdf.epw,
        )
    pdf.row("TOTAL FEES FOR THIS PERIOD", dollars(s.fees), x=15, width=pdf.epw, bold=True)
    pdf.section("Interest Charged")
    pdf.row("Interest Charge on Purchases", dollars(s.interest), x=15, width=pdf.epw)
    pdf.row("TOTAL INTEREST FOR THIS PERIOD", dollars(s.interest), x=15, width=pdf.epw, bold=True)
    pdf.section(f"{s.period_end.year} Totals Year-to-Date")
    pdf.row(f"Total fees charged in {s.period_end.year}", dollars(s.fees_ytd), x=15, width=pdf.epw)
    pdf.row(f"Total interest charged in {s.period_end.year}", dollars(s.interest_ytd), x=15, width=pdf.epw)

    pdf.section("Interest Charge Calculation")
    pdf.multi_cell(
        0,
        4.5,
        "Your Annual Percentage Rate (APR) is the annual interest rate on your account. Balance "
        "computation method: average daily balance (including new purchases); daily periodic rate = "
        f"APR / 365. Days in billing cycle: {s.days_in_period}."
        + (" Grace period applied: no interest on purchases this period." if s.grace_period_applied else ""),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font("Helvetica", "B", 9)
    columns = (
        ("Type of Balance", 50),
        ("Annual Percentage Rate (APR)", 55),
        ("Balance Subject to Interest Rate", 50),
        ("Interest Charge", 0),
    )
    for text, w in columns:
        pdf.cell(w, 6, text, border="B", new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    whole, part = divmod(s.apr_bps, 100)
    apr = f"{whole}.{part:02d}%"
    for text, w in (
        ("Purchases", 50),
        (apr, 55),
        (dollars(s.average_daily_balance), 50),
        (dollars(s.interest), 0),
    ):
        pdf.cell(w, 6, text, new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.ln(8)
    return bytes(pdf.output())
