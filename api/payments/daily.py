"""The payments part of the daily job: autopay on the due date minus 2 days, the refund of credit
balances that lasted six months, then reconciliation.

``api.jobs.daily.run_day`` calls ``run_payments_day`` for day ``D`` once
every account's billing steps for ``D`` are committed:

1. **Autopay.** Each account with autopay on and a statement due on ``D + 2``
   pays, through ``api.payments.service.run_autopay``, what its setting asks:
   ``minimum``, the statement's minimum payment less the payments posted
   since the statement closed; ``statement_balance``, the statement's closing
   balance less those payments. Each account in its own transaction (a fresh
   session, no ledger lock held): ``create_payment`` calls Stripe between its
   own short transactions and locks the receivable only to reserve the amount
   and, afterwards, to post. Stamped at the end of ``D``, like every posting
   of the job, and keyed by account and day, so a rerun of ``D`` pays nothing
   twice.
2. **Credit balances that lasted six months** (12 CFR 1026.11(a)(3): "make a good faith
   effort to refund [...] any part of the credit balance remaining in the account for more
   than six months"): each account whose credit balance of more than $1 has lasted more
   than six months at the end of ``D`` gets it back, as on the cardholder's request
   (``api.payments.credit_balances``), each in its own transaction, stamped at the end of
   ``D``. What no payment can take back awaits a check (pending, shown to admins) and is not
   asked for again.
3. **Reconciliation** of ``D`` (``reconcile_payments``): the number of
   mismatches goes into the run's counts. Stripe being down does not fail the
   billing day: the counts say ``reconciliation: "failed"`` and the log says
   why; ``cardportal ops reconcile-payments --date D`` runs it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.accounts.models import Account
from api.billing import repository as billing_repository
from api.billing.models import Statement
from api.errors import Conflict
from api.payments import credit_balances, service
from api.payments.models import AutopaySetting
from api.payments.reconciliation import reconcile_payments

log = logging.getLogger("cardportal.payments")

AUTOPAY_DAYS_BEFORE_DUE = 2


@dataclass(frozen=True)
class AutopayDue:
    account_id: str
    statement_id: str
    amount: int


def autopay_due(session: Session, day: date) -> list[AutopayDue]:
    """The autopays that fall on ``day`` (statements due on ``day + 2``) and what each should pay."""
    due_date = day + timedelta(days=AUTOPAY_DAYS_BEFORE_DUE)
    rows = session.execute(
        select(Statement, AutopaySetting.amount)
        .join(AutopaySetting, AutopaySetting.account_id == Statement.account_id)
        .where(
            Statement.due_date == due_date,
            AutopaySetting.enabled.is_(True),
            AutopaySetting.payment_method.is_not(None),
        )
        .order_by(Statement.account_id)
    ).all()
    statements = [statement for statement, _ in rows]
    paid = billing_repository.payments_since_close(session, statements)
    due = []
    for statement, setting in rows:
        asked = statement.minimum_payment if setting == "minimum" else statement.closing_balance
        due.append(
            AutopayDue(
                account_id=statement.account_id,
                statement_id=statement.id,
                amount=max(asked - paid.get(statement.account_id, 0), 0),
            )
        )
    return due


def run_autopays(
    session_factory: sessionmaker[Session],
    day: date,
    *,
    now: datetime,
    client: stripe.StripeClient | None,
) -> dict[str, int]:
    """Step 1: every autopay of ``day``, each account in its own transaction."""
    counts = {"autopay_attempted": 0, "autopay_failed": 0}
    with session_factory() as session:
        due = [d for d in autopay_due(session, day) if d.amount > 0]
    for item in due:
        counts["autopay_attempted"] += 1
        if client is None:
            log.error("autopay of %s on %s not paid: Stripe is not configured", item.account_id, day)
            counts["autopay_failed"] += 1
            continue
        try:
            with session_factory() as session:
                payment = service.run_autopay(
                    session, account_id=item.account_id, amount=item.amount, now=now, client=client
                )
                session.commit()
        except Exception:
            log.exception("autopay of %s on %s failed", item.account_id, day)
            counts["autopay_failed"] += 1
            continue
        if payment is None:
            counts["autopay_attempted"] -= 1  # nothing owed any more (or autopay just turned off)
        elif payment.status == "failed":
            log.warning("autopay %s of %s declined: %s", payment.id, item.account_id, payment.failure_code)
            counts["autopay_failed"] += 1
    return counts


def refund_lasting_credit_balances(
    session_factory: sessionmaker[Session],
    day: date,
    *,
    now: datetime,
    client: stripe.StripeClient | None,
) -> dict[str, int]:
    """Step 2: the platform's good-faith refund of credit balances that lasted six months."""
    counts = {"credit_balance_refunds": 0, "credit_balance_refunds_failed": 0}
    with session_factory() as session:
        due = credit_balances.lasting_credit_balances(session, now=now)
    for account_id in due:
        if client is None:
            log.error("credit balance of %s not refunded on %s: Stripe is not configured", account_id, day)
            counts["credit_balance_refunds_failed"] += 1
            continue
        try:
            with session_factory() as session:
                account = session.get(Account, account_id)
                assert account is not None
                credit_balances.refund_credit_balance(
                    session,
                    account=account,
                    requested_by=None,
                    request_id=None,
                    now=now,
                    client=client,
                    minimum=credit_balances.THRESHOLD + 1,
                )
                session.commit()
        except Conflict:
            continue  # returned meanwhile (on request), or now below $1
        except Exception:
            log.exception("credit balance refund of %s on %s failed", account_id, day)
            counts["credit_balance_refunds_failed"] += 1
            continue
        counts["credit_balance_refunds"] += 1
    # Only what happened: most days nothing is six months old (and the counts stay as they were).
    return {key: value for key, value in counts.items() if value}


def reconcile_day(
    session_factory: sessionmaker[Session], day: date, *, now: datetime, client: stripe.StripeClient | None
) -> dict[str, Any]:
    """Step 2: reconcile ``day``; a Stripe outage is recorded, never raised."""
    if client is None:
        log.warning("reconciliation of %s skipped: Stripe is not configured", day)
        return {"reconciliation": "skipped"}
    try:
        with session_factory() as session:
            result = reconcile_payments(session, day=day, now=now, client=client, max_network_retries=0)
            session.commit()
    except stripe.StripeError as exc:
        log.error(
            "reconciliation of %s failed, Stripe unavailable (%s); rerun: cardportal ops "
            "reconcile-payments --date %s",
            day,
            exc,
            day,
        )
        return {"reconciliation": "failed"}
    except Exception:
        log.exception("reconciliation of %s failed", day)
        return {"reconciliation": "failed"}
    return {
        "reconciliation": "ok",
        "reconciliation_mismatches": len(result.mismatches),
        "reconciliation_intents": result.intents_checked,
    }


def run_payments_day(
    session_factory: sessionmaker[Session],
    day: date,
    *,
    autopay_at: datetime,
    now: datetime,
    client: stripe.StripeClient | None,
) -> dict[str, Any]:
    """The payments steps of the daily job for ``day``: the counts to add to the run's."""
    counts: dict[str, Any] = dict(run_autopays(session_factory, day, now=autopay_at, client=client))
    counts.update(refund_lasting_credit_balances(session_factory, day, now=autopay_at, client=client))
    counts.update(reconcile_day(session_factory, day, now=now, client=client))
    return counts
