"""The statement PDF, read back as text."""

from __future__ import annotations

import io
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from api.billing.pdf import dollars, long_date, whole_dollars
from api.jobs import daily as daily_job
from tests.api.billing.helpers import at, move_clock_to, payment, purchase
from tests.factories import login, open_card_account, unique_email


def test_statement_pdf_reads_back(
    api: TestClient, app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    move_clock_to(app, at(2030, 6, 3))
    email = unique_email("pdf")
    _, account_id, card_id = open_card_account(
        session, app, credit_limit=5_000_00, apr_bps=2_499, email=email
    )
    purchase(session, card_id, 2_400_00, app.state.clock.now())
    daily_job.advance_clock(session_factory, app.state.clock, to=at(2030, 7, 10))
    payment(session, account_id, 100_00, app.state.clock.now())
    daily_job.advance_clock(session_factory, app.state.clock, to=at(2030, 8, 4))
    holder = login(api, email)
    statements = api.get(f"/v1/accounts/{account_id}/statements", headers=holder.headers).json()["data"]
    latest = statements[0]
    assert latest["interest"] > 0
    assert latest["minimum_payment_warning"]["disclosed_pay_in_36_monthly"] is not None

    r = api.get(f"/v1/statements/{latest['id']}/pdf", headers=holder.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    for needle in (
        "Account Summary",
        "Payment Information",
        "Minimum Payment Due",
        dollars(latest["minimum_payment"]),
        "Payment Due Date",
        long_date(date.fromisoformat(latest["due_date"])),
        "New Balance",
        dollars(latest["closing_balance"]),
        "Minimum Payment Warning",
        "Only the minimum payment",
        # The warning prints whole dollars (12 CFR 1026.7(b)(12)(i)(F)(1)(i), model form G-18(C)(1)).
        whole_dollars(latest["minimum_payment_warning"]["disclosed_pay_in_36_monthly"]),
        "credit counseling services",
        "Late Payment Warning",
        "Transactions",
        "PAYMENT - THANK YOU",
        "INTEREST CHARGE ON PURCHASES",
        "TOTAL INTEREST FOR THIS PERIOD",
        "2030 Totals Year-to-Date",
        dollars(latest["interest_ytd"]),
        "Interest Charge Calculation",
        "24.99%",
        dollars(latest["average_daily_balance"]),
    ):
        assert needle in text, needle
