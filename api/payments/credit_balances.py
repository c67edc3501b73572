"""Credit balances returned to the cardholder (12 CFR 1026.11(a); REGZ.md R16).

The rule: "When a credit balance in excess of $1 is created on a credit account [...], the
creditor shall: (1) Credit the amount of the credit balance to the consumer's account;
(2) Refund any part of the remaining credit balance within seven business days from receipt
of a written request from the consumer; (3) Make a good faith effort to refund to the
consumer by cash, check, or money order, or credit to a deposit account of the consumer,
any part of the credit balance remaining in the account for more than six months."
Comment 11(a)-2: the part to refund is "the amount of the credit balance at the time the
creditor is required to make the refund"; intervening purchases or other debits may be
taken into account.

What the platform does:

- (1) is the ledger itself: an overpayment or a merchant refund leaves the receivable below
  zero (``current_balance < 0``), which later purchases use first.
- (2) ``POST /v1/accounts/{id}/credit-balance-refunds``: at once, the whole credit balance
  (less pending charges, which are debits about to post: comment 11(a)-2).
- (3) the daily job (``api.payments.daily``): a credit balance of more than $1 that has
  lasted more than six months (the receivable below zero at every posting since) is
  returned the same way, by the platform.

How. The money goes back where it came from: Stripe refunds of the cardholder's own
succeeded payments (made by the account's owner, not by an admin), newest first, each at
most what is left of that payment. Each refund re-debits the receivable through the same
posting as a refund Stripe announces (``service.post_return``, keyed by the ``re_…`` id),
so the ``charge.refunded`` webhook that follows finds it posted and changes nothing. A card
refund reaches the cardholder's own card or bank account (for a debit card, their deposit
account: one of the methods (a)(3) names).

No payment to refund. A credit balance built by merchant refunds (or beyond what the
cardholder's payments can take back) cannot go back through Stripe. A real issuer mails a
check (or credits a deposit account) for it; the platform issues no checks, so that part is
recorded as ``pending`` with ``method: "check"``, shown to admins
(``GET /v1/admin/credit-balance-refunds?status=pending``), and stays on the account,
reserved, until it is paid: neither the cardholder nor the daily job asks for it twice
(comment 11(a)(3)-1.iv: an unsuccessful good-faith effort need not be repeated).

Concurrency. The candidate payments are locked (``FOR UPDATE``, in id order) before the
receivable, as everywhere (a payment row before the customer's ledger account), and the
credit balance is read under those locks: two requests at once are served one after the
other, and the second finds no credit balance (409 ``no_credit_balance``).
"""

from __future__ import annotations

import calendar
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.errors import Conflict
from api.ids import new_id
from api.ledger import service as ledger
from api.payments import service
from api.payments.gateway import stripe_idempotency_key
from api.payments.models import CreditBalanceRefund, Payment

log = logging.getLogger("cardportal.payments.credit_balances")

# 1026.11(a): the duties apply to "a credit balance in excess of $1".
THRESHOLD = 100
# 1026.11(a)(3): "remaining in the account for more than six months".
MONTHS = 6
CHECK = "check"


def _no_credit_balance() -> Conflict:
    return Conflict(
        "The account has no credit balance to return (nothing is owed to the cardholder).",
        code="no_credit_balance",
    )


def reserved_for_checks(session: Session, account_id: str) -> int:
    """What of the account's credit balance already awaits a check (pending refunds)."""
    total = session.execute(
        select(func.coalesce(func.sum(CreditBalanceRefund.pending_amount), 0)).where(
            CreditBalanceRefund.account_id == account_id, CreditBalanceRefund.status == "pending"
        )
    ).scalar_one()
    return int(total)


def refundable(session: Session, account_id: str, *, lock: bool = False) -> int:
    """The credit balance that may be returned now: what the account holds for the cardholder
    (``-(current_balance + pending_amount)``), less what already awaits a check; 0 when none."""
    balances = (
        ledger.lock_balances(session, account_id)
        if lock
        else ledger.balances(session, [account_id])[account_id]
    )
    credit = -(balances.current_balance + balances.pending_amount)
    return max(credit - reserved_for_checks(session, account_id), 0)


def _own_payments(session: Session, account: Account) -> list[Payment]:
    """The owner's succeeded payments with something left to refund, locked, newest first."""
    rows = list(
        session.execute(
            select(Payment)
            .where(
                Payment.account_id == account.id,
                Payment.user_id == account.user_id,
                Payment.status == "succeeded",
                Payment.returned_amount < Payment.amount,
                Payment.stripe_payment_intent_id.is_not(None),
            )
            .order_by(Payment.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    return sorted(
        rows,
        key=lambda p: (p.succeeded_at or p.created_at, p.created_at, p.id),
        reverse=True,
    )


@dataclass(frozen=True)
class _Refunded:
    payment_id: str
    refund_id: str
    amount: int


def _refund_payment(
    session: Session,
    *,
    refund_id: str,
    payment: Payment,
    amount: int,
    client: stripe.StripeClient,
    now: datetime,
) -> _Refunded | None:
    """Refund ``amount`` of ``payment`` at Stripe and post it; None when Stripe refused or failed."""
    assert payment.stripe_payment_intent_id is not None
    try:
        refund = client.v1.refunds.create(
            params={
                "payment_intent": payment.stripe_payment_intent_id,
                "amount": amount,
                "metadata": {
                    "cardportal_credit_balance_refund_id": refund_id,
                    "cardportal_payment_id": payment.id,
                },
            },
            options={
                "idempotency_key": stripe_idempotency_key("credit_balance_refund", refund_id, payment.id)
            },
        )
    except stripe.StripeError as exc:
        log.warning("credit balance refund %s: Stripe refused refunding %s: %s", refund_id, payment.id, exc)
        return None
    if refund.status not in ("succeeded", "pending"):
        log.warning("credit balance refund %s: refund %s is %s", refund_id, refund.id, refund.status)
        return None
    moved = service.post_return(
        session,
        payment_id=payment.id,
        kind="refund",
        stripe_object_id=str(refund.id),
        amount=int(refund.amount),
        now=now,
        label="Credit balance refund",
    )
    return _Refunded(payment.id, str(refund.id), moved)


def refund_credit_balance(
    session: Session,
    *,
    account: Account,
    requested_by: str | None,
    request_id: str | None,
    now: datetime,
    client: stripe.StripeClient,
    origin: Origin = NO_ORIGIN,
    minimum: int = 1,
) -> CreditBalanceRefund:
    """Return the account's whole credit balance to the cardholder (see the module's docstring).

    ``requested_by`` None: the platform's good-faith refund after six months (1026.11(a)(3)).
    409 ``no_credit_balance`` (nothing written) when there is less than ``minimum`` to return.
    """
    payments = _own_payments(session, account)  # locked before the receivable
    available = refundable(session, account.id, lock=True)
    if available < max(minimum, 1):
        raise _no_credit_balance()
    refund_id = new_id("cbr")
    remaining = available
    refunded: list[_Refunded] = []
    for payment in payments:
        if remaining <= 0:
            break
        part = min(payment.amount - payment.returned_amount, remaining)
        if part <= 0:
            continue
        done = _refund_payment(
            session, refund_id=refund_id, payment=payment, amount=part, client=client, now=now
        )
        if done is None or done.amount <= 0:
            continue
        refunded.append(done)
        remaining -= done.amount
    row = CreditBalanceRefund(
        id=refund_id,
        account_id=account.id,
        requested_by=requested_by,
        initiated_by="customer" if requested_by is not None else "platform",
        request_id=request_id,
        amount=available,
        refunded_amount=available - remaining,
        pending_amount=remaining,
        currency=account.currency,
        status="pending" if remaining else "succeeded",
        method=CHECK if remaining else None,
        stripe_refunds=[
            {"payment_id": r.payment_id, "refund_id": r.refund_id, "amount": r.amount} for r in refunded
        ],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        action=audit.CREDIT_BALANCE_REFUNDED,
        actor_id=requested_by,
        target=row.id,
        origin=origin,
        detail={
            "account_id": account.id,
            "amount": row.amount,
            "refunded_amount": row.refunded_amount,
            "pending_amount": row.pending_amount,
            "initiated_by": row.initiated_by,
            "stripe_refunds": row.stripe_refunds,
        },
    )
    return row


# The start of each negative receivable's current credit streak: the first posted entry after
# the last one that left the receivable at zero or owing (entries in the order written).
_CREDIT_SINCE = text(
    """
    with candidates as (
        select id as ledger_account_id
        from ledger_accounts
        where id like :suffix and posted_balance + pending_balance < -:threshold
    ),
    entries as (
        select e.ledger_account_id, e.id, e.created_at,
               sum(e.amount) over (partition by e.ledger_account_id order by e.id) as running
        from ledger_entries e
        join candidates using (ledger_account_id)
        where e.layer = 'posted'
    ),
    last_owed as (
        select ledger_account_id, max(id) filter (where running >= 0) as last_id
        from entries
        group by ledger_account_id
    )
    select entries.ledger_account_id, min(entries.created_at) as credit_since
    from entries
    join last_owed using (ledger_account_id)
    where entries.id > coalesce(last_owed.last_id, 0)
    group by entries.ledger_account_id
    """
)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day if shorter)."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month = month_index + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def lasting_credit_balances(session: Session, *, now: datetime) -> list[str]:
    """The accounts whose credit balance of more than $1 has lasted more than six months at
    ``now`` and has a part not yet returned or awaiting a check (1026.11(a)(3))."""
    cutoff = months_before(now, MONTHS)
    rows = session.execute(
        _CREDIT_SINCE, {"suffix": "%" + ledger.RECEIVABLE_SUFFIX, "threshold": THRESHOLD}
    ).all()
    due = []
    for row in rows:
        ledger_account_id: str = row[0]
        credit_since: datetime = row[1]
        if credit_since >= cutoff:
            continue
        account_id = ledger_account_id.removesuffix(ledger.RECEIVABLE_SUFFIX)
        if refundable(session, account_id) > THRESHOLD:
            due.append(account_id)
    return sorted(due)


def refunds_query(*, status: str | None = None) -> Any:
    statement = select(CreditBalanceRefund)
    if status is not None:
        statement = statement.where(CreditBalanceRefund.status == status)
    return statement
