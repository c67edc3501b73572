"""Card accounts: opening one on approval, and what its owner may see of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from sqlalchemy.orm import Session

from api.accounts import repository
from api.accounts.models import Account, AccountSummary
from api.auth.security import Principal
from api.errors import NotFound
from api.ids import new_id
from api.ledger import service as ledger
from api.network.schemas import TransactionOut, transaction_out_dict
from api.pagination import decode_cursor, encode_cursor

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


def _require_visible(principal: Principal, owner_id: str | None) -> None:
    """404, never 403, unless the account exists (``owner_id``) and is the caller's or the caller
    is an admin."""
    if owner_id is None or (owner_id != principal.user_id and principal.role != "admin"):
        raise NotFound("No account with this id.", code="account_not_found")


def visible_account(session: Session, principal: Principal, account_id: str) -> Account:
    """The account when the caller owns it (or is an admin); else 404, never 403."""
    account = repository.select_account(session, account_id)
    _require_visible(principal, account.user_id if account else None)
    assert account is not None
    return account


def account_summaries(session: Session, accounts: list[Account]) -> list[AccountSummary]:
    from api.billing.service import billing_summaries

    balances = ledger.balances(session, [a.id for a in accounts])
    billing = billing_summaries(session, [a.id for a in accounts])
    out = []
    for account in accounts:
        current = balances[account.id]
        summary = billing[account.id]
        out.append(
            AccountSummary(
                id=account.id,
                status=account.status,
                credit_limit=account.credit_limit,
                current_balance=current.current_balance,
                pending_amount=current.pending_amount,
                available_credit=ledger.available_credit(account.credit_limit, current),
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


# --- History -------------------------------------------------------------------------------------

HistoryType = Literal[
    "purchase",
    "refund",
    "payment",
    "interest",
    "fee",
    "reversal",
    "charge_off",
    "recovery",
    "recovery_return",
]
HistoryStatus = Literal["pending", "posted", "declined", "reversed"]


@dataclass(frozen=True)
class HistoryAccount:
    """What a history page needs of its account, read in one query with the access check."""

    id: str
    charge_off_transfer_id: str | None
    charged_off_amount: int | None
    owner_id: str | None = None


def history_account(session: Session, principal: Principal, account_id: str) -> HistoryAccount:
    """The account when the caller may see it (as ``visible_account``), with its charge-off."""
    row = repository.history_account_row(session, account_id)
    _require_visible(principal, row.user_id if row else None)
    assert row is not None
    return HistoryAccount(account_id, row.charge_off_transfer_id, row.charged_off_amount, row.user_id)


def _charge_off_entry(session: Session, account: HistoryAccount) -> TransactionOut | None:
    """The account's charge-off as a history entry: the receivable written off (its ledger
    transfer's id and time), posted. None when the account was not charged off with a balance."""
    if account.charge_off_transfer_id is None:
        return None
    transfer = repository.select_transfer(session, account.charge_off_transfer_id)
    if transfer is None:
        return None
    return TransactionOut(
        id=transfer.id,
        account_id=account.id,
        card_id=None,
        type="charge_off",
        status="posted",
        amount=account.charged_off_amount or transfer.amount,
        currency=transfer.currency,
        authorized_amount=None,
        merchant=None,
        decline_code=None,
        closed_reason=None,
        original_transaction_id=None,
        refunded_amount=0,
        created_at=transfer.created_at,
        posted_at=transfer.created_at,
    )


def transaction_history(
    session: Session,
    account: HistoryAccount,
    *,
    limit: int,
    cursor: str | None,
    status: HistoryStatus | None = None,
    type_: HistoryType | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the account's history, newest first, as ``TransactionOut`` dicts: its
    transactions and, once charged off, the charge-off (which lives in the ledger and billing,
    not in ``transactions``).

    The transactions come as plain rows (``repository.transaction_page``: no ORM objects, no
    models; see ``transaction_out_dict``). The charge-off is merged into the page its
    (created_at, id) falls in, in the same order and with the same cursors as the transactions,
    so pages neither skip nor repeat an entry.
    """
    extra = _charge_off_entry(session, account)
    if extra is not None and (
        status not in (None, extra.status)
        or type_ not in (None, extra.type)
        or (created_from is not None and extra.created_at < created_from)
        or (created_to is not None and extra.created_at >= created_to)
    ):
        extra = None
    if extra is not None and cursor is not None and (extra.created_at, extra.id) >= decode_cursor(cursor):
        extra = None  # on an earlier page
    if type_ == "charge_off":
        return ([extra.model_dump()] if extra is not None else []), None
    rows, next_cursor = repository.transaction_page(
        session,
        account.id,
        status=status,
        type_=type_,
        created_from=created_from,
        created_to=created_to,
        limit=limit,
        cursor=cursor,
    )
    page = [transaction_out_dict(row) for row in rows]
    if extra is None:
        return page, next_cursor
    if next_cursor is not None and (extra.created_at, extra.id) < decode_cursor(next_cursor):
        return page, next_cursor  # on a later page
    page.append(extra.model_dump())
    page.sort(key=lambda e: (e["created_at"], e["id"]), reverse=True)
    if len(page) > limit:
        page = page[:limit]
        next_cursor = encode_cursor(page[-1]["created_at"], page[-1]["id"])
    return page, next_cursor


async def plain_history_page(
    conn: AsyncConnection, principal: Principal, account_id: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None] | None:
    """``history_account`` then ``transaction_history`` without filters, on one of the event
    loop's own connections (``api.db.StatementPools``): the page a customer's app asks for most.
    None when the account was charged off: that page merges the charge-off (the general path)."""
    row = await repository.history_account_row_async(conn, account_id)
    _require_visible(principal, row["user_id"] if row is not None else None)
    assert row is not None
    if row["charge_off_transfer_id"] is not None:
        return None
    rows, next_cursor = await repository.transaction_page_async(conn, account_id, limit=limit, cursor=cursor)
    return [transaction_out_dict(r) for r in rows], next_cursor
