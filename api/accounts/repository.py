from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.network.models import Transaction


def select_account(session: Session, account_id: str) -> Account | None:
    return session.get(Account, account_id)


def accounts_of_user(user_id: str) -> Select[Any]:
    return select(Account).where(Account.user_id == user_id)


def transactions_of_account(
    account_id: str,
    *,
    status: str | None,
    type_: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
) -> Select[Any]:
    statement = select(Transaction).where(Transaction.account_id == account_id)
    if status is not None:
        statement = statement.where(Transaction.status == status)
    if type_ is not None:
        statement = statement.where(Transaction.type == type_)
    if created_from is not None:
        statement = statement.where(Transaction.created_at >= created_from)
    if created_to is not None:
        statement = statement.where(Transaction.created_at < created_to)
    return statement
