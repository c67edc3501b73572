"""The card network's four messages: authorize, clear, reverse, refund; and hold expiry.

Order of checks for an authorization (each decline is recorded and answered
200 with ``approved: false``): currency we issue in, account open, card
active and unexpired, amount within the single-authorization maximum,
spending controls, then available credit (under the account's ledger lock).

Locks: a transaction row (``FOR UPDATE``) is always taken before the
customer's ledger account, which is taken before any house account.

Authorize, clear and reverse are each one statement: the database functions
``network_authorize`` and ``network_resolve`` (``api/network/sql/``) do the
locking, the checks above and the writes, and the functions here pass them their
arguments (through ``api.network.repository``, which holds the domain's queries)
and turn their answers into results or API errors. A refund stays in Python (rare,
and it goes through ``history.post``: the transfer and its history row).

The API runs authorize, clear and reverse as ONE autocommitted statement each
(``authorize_batched``, ``resolve_batched``: the functions ``network_authorize_once`` and
``network_resolve_once``, several messages' in one statement when they arrive together),
which also begins the request's Idempotency-Key, builds the
answer's JSON and stores it for the key: one round trip where the session's unit of work
made four (the key, the work, the stored answer, the commit). The answers are the bytes
``AuthorizationOut`` and ``TransactionOut`` serialise to (a test pins them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.billing import recoveries
from api.cards import controls as spending
from api.cards.models import Card
from api.errors import AppError, Conflict, NotFound, UnprocessableEntity
from api.gateway.idempotency import PendingIdempotency, key_in_use, key_reused
from api.ids import new_id
from api.ledger import service as ledger
from api.money import ISSUING_CURRENCIES
from api.network import history, repository
from api.network.batching import StatementBatches
from api.network.models import Transaction

# The largest single authorization we approve ($50,000): larger ones decline.
MAX_AUTHORIZATION_AMOUNT = 5_000_000
# Holds neither cleared nor reversed are released after this long.
HOLD_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class AuthorizationResult:
    transaction: Transaction
    approved: bool
    decline_code: str | None
    available_credit: int


def _card_and_account(session: Session, card_id: str) -> tuple[Card, Account]:
    found = repository.select_card_and_account(session, card_id)
    if found is None:
        raise NotFound("No card with this id.", code="card_not_found")
    return found


_ISSUING = sorted(ISSUING_CURRENCIES)


@dataclass(frozen=True)
class AuthorizationRequest:
    """One authorization as the network sends it."""

    card_id: str
    amount: int
    currency: str
    merchant_name: str
    merchant_mcc: str
    merchant_country: str


def authorization_arguments(request: AuthorizationRequest, now: datetime) -> dict[str, Any]:
    """``network_authorize``'s arguments for one authorization: fresh ids, the merchant's MCC
    group, and the rules it checks (the issuing currencies, the single-authorization maximum)."""
    return {
        "id": new_id("auth"),
        "transfer_id": ledger.new_transfer_id(),
        "card_id": request.card_id,
        "amount": request.amount,
        "currency": request.currency,
        "merchant_name": request.merchant_name,
        "merchant_mcc": request.merchant_mcc,
        "mcc_group": spending.mcc_group(request.merchant_mcc),
        "merchant_country": request.merchant_country,
        "now": now,
        "currencies": _ISSUING,
        "max_amount": MAX_AUTHORIZATION_AMOUNT,
    }


def _authorization_result(params: dict[str, Any], row: Any) -> AuthorizationResult:
    account_id, decline, available = row
    approved = decline is None
    transaction = Transaction(
        id=params["id"],
        account_id=account_id,
        card_id=params["card_id"],
        type="purchase",
        status="pending" if approved else "declined",
        amount=params["amount"],
        authorized_amount=params["amount"],
        currency=params["currency"],
        merchant_name=params["merchant_name"],
        merchant_mcc=params["merchant_mcc"],
        merchant_country=params["merchant_country"],
        decline_code=decline,
        hold_transfer_id=params["transfer_id"] if approved else None,
        refunded_amount=0,
        created_at=params["now"],
    )
    return AuthorizationResult(transaction, approved, decline, int(available))


def authorize(
    session: Session,
    *,
    card_id: str,
    amount: int,
    currency: str,
    merchant_name: str,
    merchant_mcc: str,
    merchant_country: str,
    now: datetime,
) -> AuthorizationResult:
    """Approve or decline, in one round trip (``network_authorize``); a decline is recorded too."""
    request = AuthorizationRequest(card_id, amount, currency, merchant_name, merchant_mcc, merchant_country)
    params = authorization_arguments(request, now)
    row = repository.network_authorize(session, params)
    if row is None:
        raise NotFound("No card with this id.", code="card_not_found")
    return _authorization_result(params, row)


@dataclass(frozen=True)
class Answer:
    """An answer built and stored by the database: the status, the JSON's bytes, and whether it
    is a stored answer replayed for its Idempotency-Key."""

    status_code: int
    body: bytes
    replayed: bool


def _answer(row: dict[str, Any]) -> Answer | None:
    """The row's answer; None when the outcome is an error for the caller to raise."""
    outcome = row["outcome"]
    if outcome in ("ok", "replayed"):
        return Answer(int(row["status_code"]), row["body"].encode(), replayed=outcome == "replayed")
    if outcome == "idempotency_key_in_use":
        raise key_in_use()
    if outcome == "idempotency_key_reused":
        raise key_reused()
    return None


async def authorize_batched(
    batches: StatementBatches,
    *,
    idempotency: PendingIdempotency,
    request: AuthorizationRequest,
    now: datetime,
) -> Answer:
    """``authorize`` and the Idempotency-Key's steps, one autocommitted statement
    (``network_authorize_once``) shared with the authorizations that arrive with it
    (``api.network.batching``: one commit for them all); the answer."""
    arguments = idempotency.statement_arguments() | authorization_arguments(request, now)
    return _authorization_answer(await batches.run(arguments))


def _authorization_answer(row: dict[str, Any]) -> Answer:
    answer = _answer(row)
    if answer is None:
        raise NotFound("No card with this id.", code="card_not_found")
    return answer


def _lock_authorization(session: Session, authorization_id: str) -> Transaction:
    transaction = repository.lock_authorization(session, authorization_id)
    if transaction is None:
        raise NotFound("No authorization with this id.", code="authorization_not_found")
    return transaction


_TIPPING = sorted(spending.TIPPING_MCCS)
_CONFLICTS = {
    "authorization_already_cleared": "This authorization has already been cleared.",
    "authorization_declined": "A declined authorization cannot be cleared or reversed.",
    "authorization_expired": "This authorization's hold has expired.",
    "authorization_reversed": "This authorization has been reversed.",
}


def _resolve_arguments(authorization_id: str, action: str, amount: int, now: datetime) -> dict[str, Any]:
    return {
        "id": authorization_id,
        "action": action,
        "amount": amount,
        "now": now,
        "transfer_id": ledger.new_transfer_id(),
        "tipping": _TIPPING,
        "tip_bps": spending.TIP_TOLERANCE_BPS,
    }


def _resolve_error(row: Any) -> AppError:
    """The API error of ``network_resolve``'s outcome code other than ``ok``."""
    outcome = row["outcome"]
    if outcome == "authorization_not_found":
        return NotFound("No authorization with this id.", code="authorization_not_found")
    if outcome in _CONFLICTS:
        return Conflict(_CONFLICTS[outcome], code=outcome)
    if outcome == "clear_exceeds_authorization":
        ceiling = int(row["max_amount"])
        return UnprocessableEntity(
            f"The clearing amount exceeds what this authorization allows ({ceiling}).",
            code="clear_exceeds_authorization",
            max_amount=ceiling,
        )
    raise AssertionError(outcome)


def _resolve(
    session: Session, *, authorization_id: str, action: str, amount: int, now: datetime
) -> Transaction:
    # One statement (``network_resolve``): it answers an outcome code and the row as it is.
    row = repository.network_resolve(session, _resolve_arguments(authorization_id, action, amount, now))
    if row["outcome"] != "ok":
        raise _resolve_error(row)
    return Transaction(**{key: value for key, value in row.items() if key not in ("outcome", "max_amount")})


def clear(session: Session, *, authorization_id: str, amount: int, now: datetime) -> Transaction:
    """Post the hold for ``amount`` (up to 20 % more in tipping categories)."""
    return _resolve(session, authorization_id=authorization_id, action="clear", amount=amount, now=now)


def reverse(
    session: Session, *, authorization_id: str, now: datetime, reason: str = "reversed"
) -> Transaction:
    """Release the hold; ``reason`` is ``reversed`` (the network's message) or ``expired``."""
    if reason not in ("reversed", "expired"):
        raise ValueError(f"unknown reason {reason!r}")
    return _resolve(session, authorization_id=authorization_id, action=reason, amount=0, now=now)


async def resolve_batched(
    batches: StatementBatches,
    *,
    idempotency: PendingIdempotency,
    authorization_id: str,
    action: str,
    amount: int,
    now: datetime,
) -> Answer:
    """``clear`` (``action`` "clear") or ``reverse`` ("reversed") and the Idempotency-Key's
    steps, one autocommitted statement (``network_resolve_once``) shared with the clears and
    reversals that arrive with it (``api.network.batching``: one commit for them all); the
    answer (the transaction, ``TransactionOut``)."""
    if action not in ("clear", "reversed"):
        raise ValueError(f"unknown action {action!r}")
    arguments = idempotency.statement_arguments() | _resolve_arguments(authorization_id, action, amount, now)
    return _resolution_answer(await batches.run(arguments))


def _resolution_answer(row: dict[str, Any]) -> Answer:
    answer = _answer(row)
    if answer is None:
        raise _resolve_error(row)
    return answer


def refund(
    session: Session,
    *,
    card_id: str,
    amount: int,
    currency: str,
    merchant_name: str,
    merchant_mcc: str,
    merchant_country: str,
    authorization_id: str | None,
    now: datetime,
) -> Transaction:
    original: Transaction | None = None
    if authorization_id is not None:
        original = _lock_authorization(session, authorization_id)
        if original.card_id != card_id:
            raise NotFound("No authorization with this id on this card.", code="authorization_not_found")
        if original.status != "posted":
            raise Conflict("Only a cleared authorization can be refunded.", code="authorization_not_cleared")
        if original.refunded_amount + amount > original.amount:
            raise UnprocessableEntity(
                f"Refunds would exceed the cleared amount ({original.amount - original.refunded_amount} "
                "left to refund).",
                code="refund_exceeds_cleared",
            )
    if original is None and amount > MAX_AUTHORIZATION_AMOUNT:
        raise UnprocessableEntity(
            f"A refund without its authorization is at most {MAX_AUTHORIZATION_AMOUNT} cents.",
            code="refund_too_large",
        )
    card, account = _card_and_account(session, card_id)
    if currency != account.currency:
        raise UnprocessableEntity(
            f"This card's account is in {account.currency}.", code="currency_not_supported"
        )
    transaction_id = new_id("txn")
    transaction = history.post(
        session,
        direction="credit",
        account_id=account.id,
        type_="refund",
        amount=amount,
        against=ledger.House.NETWORK_SETTLEMENT,
        currency=currency,
        now=now,
        reference=transaction_id,
        transaction_id=transaction_id,
        card_id=card.id,
        merchant_name=merchant_name,
        merchant_mcc=merchant_mcc,
        merchant_country=merchant_country,
        original_transaction_id=original.id if original else None,
    )
    if original is not None:
        original.refunded_amount += amount
    # A refund to a charged-off account recovers the loss (up to what is not recovered yet).
    recoveries.recover_after_credit(
        session, account_id=account.id, currency=currency, now=now, source_transaction_id=transaction.id
    )
    return transaction


def expire_holds(session: Session, *, now: datetime, limit: int = 1000) -> int:
    """Release holds older than ``HOLD_LIFETIME``; how many. Safe to run concurrently."""
    stale = repository.lock_stale_holds(session, created_before=now - HOLD_LIFETIME, limit=limit)
    for authorization_id in stale:
        reverse(session, authorization_id=authorization_id, now=now, reason="expired")
    return len(stale)
