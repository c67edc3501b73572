"""Card accounts: opening one on approval, and what its owner may see of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.accounts import repository
from api.accounts.models import Account
from api.accounts.schemas import AccountOut
from api.auth.security import Principal
from api.errors import NotFound
from api.ids import new_id
from api.ledger import service as ledger

# Statements close on the cycle day; 1..28 so that every month has one.
LAST_CYCLE_DAY = 28


def billing_cycle_day_for(opened: datetime) -> int:
    return min(opened.day, LAST_CYCLE_DAY)


def open_account(
    session: Session,
    *,
    user_id: str,
    application_id: str | None,
    credit_limit: int,
    apr_bps: int,
    now: datetime,
    currency: str = "USD",
) -> Account:
    account = Account(
        id=new_id("acct"),
        user_id=user_id,
        application_id=application_id,
        status="active",
        credit_limit=credit_limit,
        apr_bps=apr_bps,
        currency=currency,
        billing_cycle_day=billing_cycle_day_for(now),
        opened_at=now,
        created_at=now,
    )
    session.add(account)
    session.flush()
    ledger.open_customer_account(session, account_id=account.id, currency=currency)
    return account


def visible_account(session: Session, principal: Principal, account_id: str) -> Account:
    """The account when the caller owns it (or is an admin); else 404, never 403."""
    account = repository.select_account(session, account_id)
    if account is None or (account.user_id != principal.user_id and principal.role != "admin"):
        raise NotFound("No account with this id.", code="account_not_found")
    return account


def describe(session: Session, accounts: list[Account]) -> list[AccountOut]:
    from api.billing.service import billing_summaries

    balances = ledger.balances(session, [a.id for a in accounts])
    billing = billing_summaries(session, [a.id for a in accounts])
    out = []
    for account in accounts:
        current = balances[account.id]
        summary = billing[account.id]
        out.append(
            AccountOut(
                id=account.id,
                status=account.status,
                credit_limit=account.credit_limit,
                current_balance=current.current_balance,
                pending_amount=current.pending_amount,
                available_credit=account.credit_limit - current.current_balance - current.pending_amount,
                apr_bps=account.apr_bps,
                currency=account.currency,
                billing_cycle_day=account.billing_cycle_day,
                opened_at=account.opened_at,
                statement_balance=summary.statement_balance,
                next_due_date=summary.next_due_date,
                minimum_payment_due=summary.minimum_payment_due,
                past_due_amount=summary.past_due_amount,
                days_past_due=summary.days_past_due,
                delinquency_bucket=summary.delinquency_bucket,
            )
        )
    return out
