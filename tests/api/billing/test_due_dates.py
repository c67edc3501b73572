"""The due date through the daily job and the statement API (issue 20 item 6, rule R2)."""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.jobs import daily as daily_job
from tests.api.billing.helpers import at, move_clock_to, purchase
from tests.factories import login, open_card_account, unique_email


def test_cycle_day_4_falls_due_on_the_same_day_in_february(
    api: TestClient, app: FastAPI, session: Session, session_factory: sessionmaker[Session]
) -> None:
    """An account opened on the 4th closes on the 4th; its statements fall due on one day a month.

    15 U.S.C. 1637(o)(1): "The payment due date ... shall be the same day each month";
    12 CFR 1026.5(b)(2)(ii)(A): at least 21 days after the statement. Before the fix the
    statements closing 2031-01-04, 02-04 and 03-04 fell due on 01-29, 02-28 and 03-29:
    February moved the cardholder's due date a day earlier.
    """
    move_clock_to(app, at(2030, 12, 4))
    email = unique_email("due-day")
    _, account_id, card_id = open_card_account(session, app, credit_limit=2_000_00, email=email)
    purchase(session, card_id, 300_00, app.state.clock.now())
    daily_job.advance_clock(session_factory, app.state.clock, to=at(2031, 3, 6))

    holder = login(api, email)
    account = api.get(f"/v1/accounts/{account_id}", headers=holder.headers).json()
    assert account["billing_cycle_day"] == 4
    statements = api.get(f"/v1/accounts/{account_id}/statements", headers=holder.headers).json()["data"]
    dues = sorted(
        (date.fromisoformat(s["period_end"]), date.fromisoformat(s["due_date"])) for s in statements
    )
    assert [close for close, _ in dues] == [date(2031, 1, 4), date(2031, 2, 4), date(2031, 3, 4)]
    assert {due.day for _, due in dues} == {28}
    for close, due in dues:
        assert (due - close).days >= 21
