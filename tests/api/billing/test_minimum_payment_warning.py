"""The minimum payment warning through the daily job, the statement API and the PDF (issue 20 item 7, R11)."""

from __future__ import annotations

import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy.orm import Session, sessionmaker

from api.jobs import daily as daily_job
from tests.api.billing.helpers import at, move_clock_to, purchase
from tests.factories import login, open_card_account, unique_email


def _first_statement(
    api: TestClient,
    app: FastAPI,
    session: Session,
    session_factory: sessionmaker[Session],
    *,
    amount: int,
    apr_bps: int,
) -> tuple[dict, str]:  # type: ignore[type-arg]
    """One purchase on 2030-06-03 and the statement closing 2030-07-03: (statement, PDF text)."""
    move_clock_to(app, at(2030, 6, 3))
    email = unique_email("warning")
    _, account_id, card_id = open_card_account(
        session, app, credit_limit=200_000_00, apr_bps=apr_bps, email=email
    )
    purchase(session, card_id, amount, app.state.clock.now())
    daily_job.advance_clock(session_factory, app.state.clock, to=at(2030, 7, 5))
    holder = login(api, email)
    statements = api.get(f"/v1/accounts/{account_id}/statements", headers=holder.headers).json()["data"]
    assert len(statements) == 1
    statement = statements[0]
    assert statement["closing_balance"] == amount
    r = api.get(f"/v1/statements/{statement['id']}/pdf", headers=holder.headers)
    assert r.status_code == 200
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(r.content)).pages)
    return statement, " ".join(text.split())


def test_no_36_month_line_when_the_minimum_repays_in_3_years_after_rounding(
    api: TestClient, app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """12 CFR 1026.7(b)(12)(i)(F)(2): no 36-month line when the estimate "after rounding is three
    years or less"; (B): 37 months is disclosed as 3 years; (E): the counseling number.

    $905.00 at 0 % APR: $25 a month for 36 months and $5 in the 37th, $905 in all. Before the
    fix the statement printed "Only the minimum payment | 3 years 1 month | $905.00" and
    "$25.14 | 3 years | $905.04 (Savings = -$0.04)", and no counseling number.
    """
    statement, text = _first_statement(api, app, session, session_factory, amount=905_00, apr_bps=0)
    warning = statement["minimum_payment_warning"]
    assert warning["minimum_only_months"] == 37
    assert warning["kind"] == "3_years_or_less"
    assert warning["repayment_period"] == "3 years"
    assert warning["disclosed_minimum_only_total"] == 905_00
    assert warning["disclosed_pay_in_36_monthly"] is None
    assert warning["savings"] is None
    phone = app.state.settings.credit_counseling_phone
    assert warning["credit_counseling_phone"] == phone

    assert "Minimum Payment Warning" in text
    assert "Only the minimum payment 3 years $905" in text
    assert "Savings" not in text
    assert f"If you would like information about credit counseling services, call {phone}." in text


def test_the_36_month_line_in_whole_dollars_when_it_takes_longer(
    api: TestClient, app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """G-18(C)(1): the repayment period in whole years, every amount in whole dollars, the savings.

    $1,000 at 19.99 %: the figures are the pure rule's (tests/api/billing/test_rules.py proves
    its rounding); here they reach the API and the PDF as printed. 66 months is 5.5 years,
    disclosed as 6 years (1026.7(b)(12)(i)(B)); before the fix the PDF said "5 years 6 months"
    and printed cents.
    """
    statement, text = _first_statement(api, app, session, session_factory, amount=1_000_00, apr_bps=1_999)
    warning = statement["minimum_payment_warning"]
    assert warning["minimum_only_months"] == 66
    assert warning["kind"] == "over_3_years"
    assert warning["repayment_period"] == "6 years"
    total, monthly, total_36 = (
        warning["disclosed_minimum_only_total"],
        warning["disclosed_pay_in_36_monthly"],
        warning["disclosed_pay_in_36_total"],
    )
    assert total % 100 == monthly % 100 == total_36 % 100 == 0
    assert warning["savings"] == total - total_36 > 0

    def whole(cents: int) -> str:
        return f"${cents // 100:,}"

    assert f"Only the minimum payment 6 years {whole(total)}" in text
    assert f"{whole(monthly)} 3 years {whole(total_36)} (Savings={whole(warning['savings'])})" in text
    assert "credit counseling services" in text
