"""Recoveries: money that reaches an account after its charge-off.

A charge-off (``api.billing.service.charge_off``, at 180 days past due) credits the
receivable against the charge-off loss account: the debt leaves the books, but the
cardholder still owes it. What arrives afterwards (a payment, a merchant's refund) is a
*recovery* of that loss, up to what was charged off and not yet recovered.

The books an accountant expects. Regulators ask for charge-offs and recoveries apart
(FFIEC Call Report, Schedule RI-B Part I: "In column A report loans and leases charged off
[...]. In column B report amounts recovered [...] on loans and leases previously charged
off"), and net charge-offs are the one less the other. So recoveries have a house account
of their own, ``charge_off_recovery`` (a credit balance beside the charge-off loss's debit
balance), instead of credits to the loss account that would leave gross charge-offs
readable nowhere:

- a credit lands on the receivable as any credit does (the payment against Stripe
  clearing, the refund against network settlement), and the account's history shows it;
- the part of it that would leave a credit balance, up to the loss not yet recovered, is
  then re-debited to the receivable against ``charge_off_recovery`` (ledger kind
  ``charge_off_recovery``), with a ``recovery`` line in the history: the receivable stays
  at zero (nothing is owed on the books), and the history still sums to the balance;
- a recovered payment that Stripe takes back (a refund, a dispute) reverses its recovery
  (kind ``recovery_reversal``, a ``recovery_return`` line), so the receivable of a
  charged-off account returns to zero and the recovery is not counted twice.

Gross charge-offs are the loss account's debits, recoveries the net credits of the
recovery account, net charge-offs the difference (the marts: ``rpt_revenue_monthly``,
``rpt_delinquency``). Every movement is a two-leg transfer touching one customer account,
under that account's ledger lock (the ledger's invariants hold unchanged).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.billing.models import AccountBilling
from api.ledger import service as ledger
from api.network import history
from api.network.models import Transaction

RECOVERY_TYPE = "recovery"
RECOVERY_RETURN_TYPE = "recovery_return"
RECOVERY_KIND = "charge_off_recovery"
RECOVERY_REVERSAL_KIND = "recovery_reversal"


def is_charged_off(session: Session, account_id: str) -> bool:
    return (
        session.execute(
            select(AccountBilling.charged_off_on).where(AccountBilling.account_id == account_id)
        ).scalar_one_or_none()
        is not None
    )


def recovered(session: Session, account_id: str) -> int:
    """What was recovered of the account's charge-off so far, net of recoveries reversed."""
    total = session.execute(
        select(
            func.coalesce(func.sum(Transaction.amount).filter(Transaction.type == RECOVERY_TYPE), 0)
            - func.coalesce(func.sum(Transaction.amount).filter(Transaction.type == RECOVERY_RETURN_TYPE), 0)
        ).where(
            Transaction.account_id == account_id,
            Transaction.status == "posted",
            Transaction.type.in_((RECOVERY_TYPE, RECOVERY_RETURN_TYPE)),
        )
    ).scalar_one()
    return int(total)


def recoverable(session: Session, account_id: str) -> int:
    """What of the account's charge-off is not recovered yet (0 when it was not charged off)."""
    charged_off = session.execute(
        select(AccountBilling.charged_off_amount).where(
            AccountBilling.account_id == account_id, AccountBilling.charged_off_on.is_not(None)
        )
    ).scalar_one_or_none()
    if not charged_off:
        return 0
    return max(charged_off - recovered(session, account_id), 0)


def recover_after_credit(
    session: Session,
    *,
    account_id: str,
    currency: str,
    now: datetime,
    source_transaction_id: str | None,
) -> int:
    """After a credit to a charged-off account (a payment, a merchant refund), book what of it
    left a credit balance as a recovery, up to the loss not yet recovered; the amount recovered.

    The caller has posted its credit in this transaction; the receivable is locked here (it
    is already, by the credit), so two credits at once are booked one after the other.
    """
    balance = ledger.lock_balances(session, account_id).current_balance
    if balance >= 0:
        return 0
    amount = min(-balance, recoverable(session, account_id))
    if amount <= 0:
        return 0
    history.post(
        session,
        direction="charge",
        account_id=account_id,
        type_=RECOVERY_TYPE,
        kind=RECOVERY_KIND,
        amount=amount,
        against=ledger.House.CHARGE_OFF_RECOVERY,
        currency=currency,
        now=now,
        reference=source_transaction_id,
        merchant_name="Recovery of charged-off balance",
        original_transaction_id=source_transaction_id,
    )
    return amount


def reverse_after_return(
    session: Session,
    *,
    account_id: str,
    amount: int,
    currency: str,
    now: datetime,
    source_transaction_id: str | None,
) -> int:
    """After ``amount`` of a payment was re-debited to a charged-off account (Stripe took it
    back), reverse as much of the recoveries as that left owing on the books, up to
    ``amount`` and to what was recovered; the amount reversed."""
    balance = ledger.lock_balances(session, account_id).current_balance
    if balance <= 0:
        return 0
    if not is_charged_off(session, account_id):
        return 0
    reversed_amount = min(balance, amount, recovered(session, account_id))
    if reversed_amount <= 0:
        return 0
    history.post(
        session,
        direction="credit",
        account_id=account_id,
        type_=RECOVERY_RETURN_TYPE,
        kind=RECOVERY_REVERSAL_KIND,
        amount=reversed_amount,
        against=ledger.House.CHARGE_OFF_RECOVERY,
        currency=currency,
        now=now,
        reference=source_transaction_id,
        merchant_name="Recovery returned",
        original_transaction_id=source_transaction_id,
    )
    return reversed_amount
