"""Payments through Stripe: paying a card account, applying Stripe's word, returns, autopay.

Making a payment runs in phases, each safe to repeat (Stripe's "atomic
phases"), because Stripe is called between our database transactions:

1. The payer's Stripe Customer (created once per user, under a per-user lock)
   and the PaymentMethod attached to it.
2. The payment row, committed as ``pending`` in its own short transaction
   before Stripe hears of it, so that a webhook that overtakes the request
   always finds it, and a retry of a request that died finds it by its
   Idempotency-Key.
3. The PaymentIntent, created (our payment id in its metadata, our key passed
   as Stripe's idempotency key), its id committed beside the payment, then
   confirmed server-side. Create-then-confirm: a ``CardError`` from
   ``create(confirm=True)`` carries no PaymentIntent id.
4. ``apply_intent`` with the PaymentIntent's state, in the request's own
   transaction: the same function the webhooks call.

Exactly once. ``apply_intent`` locks the payment row, and the ledger credit
is written only by the transaction that inserts the posting's unique key
(the PaymentIntent id) into ``payment_postings``; a concurrent insert of the
same key waits and then finds it taken. Whichever of the confirm answer and
the webhook comes first posts; the other changes nothing.

Never backwards. A payment that succeeded stays succeeded: an older
``payment_failed`` (or one replayed a day late) cannot undo it, because the
state applied is the PaymentIntent's current one, fetched from Stripe.

Returns. A refund (each ``re_…``) or a dispute (each ``dp_…``) re-debits the
account once, never more in total than the payment. A dispute also charges
a returned-payment fee, once per payment, never above the minimum payment
due immediately before the return (12 CFR 1026.52(b)(1)(ii)(B)), as billing
reckons it: ``minimum_due_before_return``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import stripe
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from api.accounts.models import Account
from api.audit import service as audit
from api.audit.service import NO_ORIGIN, Origin
from api.auth.models import User
from api.billing import recoveries
from api.billing import repository as billing_repository
from api.billing import service as billing
from api.errors import NotFound, UnprocessableEntity
from api.ids import new_id
from api.ledger import service as ledger
from api.network import history
from api.network.models import Transaction
from api.payments import repository
from api.payments.gateway import default_client, stripe_idempotency_key
from api.payments.models import AutopaySetting, Payment, StripeCustomer

log = logging.getLogger("cardportal.payments")

# The returned-payment fee ($25), before the cap by the minimum payment due.
RETURNED_PAYMENT_FEE = 2_500

_FAILED_INTENT_STATES = {"requires_payment_method", "canceled", "requires_action"}


class StripeUnavailable(Exception):
    """Stripe could not be reached or answered with a server error."""


# --- helpers -------------------------------------------------------------------------------------


@contextmanager
def _own_transaction(session: Session) -> Iterator[Session]:
    """A short transaction of its own, committed at the end of the block.

    Used only for the rows that must be durable before Stripe is called.
    """
    with Session(bind=session.get_bind(), expire_on_commit=False) as side, side.begin():
        yield side


def _stripe_error_code(exc: stripe.StripeError) -> str:
    if exc.code:
        return str(exc.code)
    # localstripe answers an unknown object with a bare 404; Stripe says resource_missing.
    if exc.http_status == 404:
        return "resource_missing"
    return "stripe_error"


def owed(session: Session, account_id: str, *, lock: bool = False) -> int:
    """What a payment may pay at most: the current balance plus pending charges, plus what of a
    charge-off is not recovered yet (the cardholder still owes it: ``api.billing.recoveries``),
    less the payments already on their way (``pending``: sent to Stripe, not yet posted).

    With ``lock`` the account's receivable is locked first (``ledger.lock_balances``), so that
    two payments checked at once are checked one after the other, the second seeing the first.
    """
    if lock:
        balances = ledger.lock_balances(session, account_id)
    else:
        balances = ledger.balances(session, [account_id])[account_id]
    on_their_way = repository.pending_payments_total(session, account_id)
    written_off = recoveries.recoverable(session, account_id)
    return balances.current_balance + balances.pending_amount + written_off - on_their_way


def _refuse_overpayment(amount: int, limit: int) -> None:
    if amount > limit:
        raise UnprocessableEntity(
            f"The payment is more than the balance and pending charges ({max(limit, 0)}).",
            code="overpayment",
            max_amount=max(limit, 0),
        )


# --- customers and payment methods --------------------------------------------------------------


def ensure_customer(session: Session, *, user_id: str, client: stripe.StripeClient) -> str:
    """The user's Stripe Customer id, created once (committed at once, under a per-user lock)."""
    existing = repository.select_customer(session, user_id)
    if existing is not None:
        return existing.stripe_customer_id
    with _own_transaction(session) as side:
        side.execute(
            text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"stripe_customer:{user_id}"}
        )
        existing = repository.select_customer(side, user_id)
        if existing is not None:
            return existing.stripe_customer_id
        user = side.get(User, user_id)
        if user is None:
            raise NotFound("No such user.", code="user_not_found")
        customer = client.v1.customers.create(
            params={"email": user.email, "metadata": {"cardportal_user_id": user_id}},
            options={"idempotency_key": stripe_idempotency_key("customer", user_id)},
        )
        side.add(StripeCustomer(user_id=user_id, stripe_customer_id=customer.id))
        return customer.id


@dataclass(frozen=True)
class MethodDeclined:
    code: str
    message: str


def attach_payment_method(
    client: stripe.StripeClient, *, payment_method: str, customer_id: str
) -> str | MethodDeclined:
    """The PaymentMethod, attached to the customer: its id, or the decline when attaching fails.

    A PaymentMethod that does not exist, or belongs to another customer, is a 422.
    """
    try:
        method = client.v1.payment_methods.retrieve(payment_method)
        if method.customer is None:
            method = client.v1.payment_methods.attach(method.id, params={"customer": customer_id})
        elif method.customer != customer_id:
            raise UnprocessableEntity(
                "This PaymentMethod belongs to another customer.", code="payment_method_not_usable"
            )
    except stripe.CardError as exc:
        return MethodDeclined(_stripe_error_code(exc), exc.user_message or str(exc))
    except stripe.InvalidRequestError as exc:
        code = _stripe_error_code(exc)
        raise UnprocessableEntity(
            f"Stripe refused the PaymentMethod: {exc.user_message or code}.",
            code=code,
            stripe_code=code,
        ) from exc
    except (stripe.APIConnectionError, stripe.APIError) as exc:
        raise StripeUnavailable(str(exc)) from exc
    return str(method.id)


# --- making a payment ----------------------------------------------------------------------------


def create_payment(
    session: Session,
    *,
    account: Account,
    payer_id: str,
    amount: int,
    payment_method: str,
    idempotency_key: str,
    request_id: str | None,
    now: datetime,
    initiated_by: str = "customer",
    client: stripe.StripeClient | None = None,
    origin: Origin = NO_ORIGIN,
) -> Payment:
    """Pay ``amount`` towards the account. The payment row and its audit event commit before
    Stripe is called (a crash then leaves a pending payment that a retry resumes)."""
    client = client or default_client()
    existing = repository.payment_by_key(session, payer_id, idempotency_key)
    if existing is not None:
        # A request with this key ran before and did not finish answering: resume it.
        if existing.account_id != account.id or existing.amount != amount:
            raise UnprocessableEntity(
                "This Idempotency-Key was already used with a different request.",
                code="idempotency_key_reused",
            )
        return _drive(session, existing.id, idempotency_key=idempotency_key, client=client, now=now)

    if amount <= 0:
        raise UnprocessableEntity("A payment must be above zero.", code="invalid_amount")
    # A first look without a lock, to spare Stripe a payment that cannot be made.
    _refuse_overpayment(amount, owed(session, account.id))

    customer_id = ensure_customer(session, user_id=payer_id, client=client)
    attached = attach_payment_method(client, payment_method=payment_method, customer_id=customer_id)
    payment = Payment(
        id=new_id("pay"),
        account_id=account.id,
        user_id=payer_id,
        initiated_by=initiated_by,
        request_id=request_id,
        idempotency_key=idempotency_key,
        amount=amount,
        currency=account.currency,
        status="pending",
        stripe_customer_id=customer_id,
        stripe_payment_method_id=attached if isinstance(attached, str) else payment_method,
        created_at=now,
        updated_at=now,
    )
    audited: dict[str, Any] = {
        "action": audit.PAYMENT_CREATED,
        "actor_id": payer_id,
        "target": payment.id,
        "origin": origin,
        "detail": {"account_id": account.id, "amount": amount, "initiated_by": initiated_by},
    }
    if isinstance(attached, MethodDeclined):
        # Stripe declined the card before any PaymentIntent: a failed payment, no money moved.
        payment.status = "failed"
        payment.failure_code = attached.code
        payment.failure_message = attached.message[:500]
        session.add(payment)
        session.flush()
        audit.record(session, **audited)
        return payment
    with _own_transaction(session) as side:
        # The check that holds under concurrency: under the receivable's lock, counting the
        # payments still pending, and the row committed (reserving its amount) before the lock
        # goes. Stripe is never called while the lock is held.
        _refuse_overpayment(amount, owed(side, account.id, lock=True))
        side.add(payment)
        side.flush()
        audit.record(side, **audited)
    return _drive(session, payment.id, idempotency_key=idempotency_key, client=client, now=now)


def _drive(
    session: Session, payment_id: str, *, idempotency_key: str, client: stripe.StripeClient, now: datetime
) -> Payment:
    """Phases 3 and 4 for a committed payment row: PaymentIntent, confirm, apply."""
    payment = session.get(Payment, payment_id, populate_existing=True)
    assert payment is not None
    if payment.status != "pending":
        return payment
    key = stripe_idempotency_key("payment", payment.user_id, idempotency_key)
    try:
        if payment.stripe_payment_intent_id is None:
            intent = client.v1.payment_intents.create(
                params={
                    "amount": payment.amount,
                    "currency": payment.currency.lower(),
                    "customer": payment.stripe_customer_id or "",
                    "payment_method": payment.stripe_payment_method_id or "",
                    # The emulator knows only this (older) name of allowed_payment_method_types.
                    "payment_method_types": ["card"],  # type: ignore[typeddict-unknown-key]
                    "metadata": {
                        "cardportal_payment_id": payment.id,
                        "cardportal_account_id": payment.account_id,
                    },
                },
                options={"idempotency_key": key},
            )
            with _own_transaction(session) as side:
                stored = side.get(Payment, payment.id, with_for_update=True)
                assert stored is not None
                stored.stripe_payment_intent_id = intent.id
                stored.updated_at = now
            # What the side transaction committed, without marking it to be written again here.
            set_committed_value(payment, "stripe_payment_intent_id", intent.id)
            set_committed_value(payment, "updated_at", now)
        else:
            intent = client.v1.payment_intents.retrieve(payment.stripe_payment_intent_id)
        if intent.status == "requires_confirmation":
            try:
                intent = client.v1.payment_intents.confirm(
                    intent.id, options={"idempotency_key": key + ":confirm"}
                )
            except stripe.CardError:
                # The decline is on the PaymentIntent now (last_payment_error): read it back.
                intent = client.v1.payment_intents.retrieve(intent.id)
    except stripe.InvalidRequestError as exc:
        # Stripe refused the PaymentIntent itself: the payment fails, nothing moved.
        _fail(session, payment.id, code=_stripe_error_code(exc), message=exc.user_message, now=now)
        refreshed = session.get(Payment, payment.id)
        assert refreshed is not None
        return refreshed
    except (stripe.APIConnectionError, stripe.APIError) as exc:
        # The payment stays pending; the webhook or the retry of this request settles it.
        log.warning("stripe unavailable while paying %s: %s", payment.id, exc)
        return payment
    apply_intent(session, payment_id=payment.id, intent=intent, now=now)
    refreshed = session.get(Payment, payment.id)
    assert refreshed is not None
    return refreshed


def apply_intent(session: Session, *, payment_id: str, intent: Any, now: datetime) -> bool:
    """Bring a payment to its PaymentIntent's current state; True when something changed."""
    payment = repository.lock_payment(session, payment_id)
    if payment is None:
        return False
    status = str(intent.status)
    changed = False
    if status == "succeeded":
        if payment.status != "succeeded":
            payment.status = "succeeded"
            payment.failure_code = None
            payment.failure_message = None
            payment.succeeded_at = now
            changed = True
        changed = _post_payment(session, payment, intent_id=str(intent.id), now=now) or changed
    elif status in _FAILED_INTENT_STATES and payment.status == "pending":
        error = intent.last_payment_error
        payment.status = "failed"
        if error is not None and getattr(error, "code", None):
            payment.failure_code = str(error.code)
            payment.failure_message = str(getattr(error, "message", "") or "")[:500] or None
        elif status == "canceled":
            payment.failure_code = "payment_intent_canceled"
        elif status == "requires_action":
            payment.failure_code = "authentication_required"
        else:
            payment.failure_code = "payment_failed"
        changed = True
    if changed:
        payment.updated_at = now
    session.flush()
    return changed


def _fail(session: Session, payment_id: str, *, code: str, message: str | None, now: datetime) -> None:
    payment = repository.lock_payment(session, payment_id)
    if payment is not None and payment.status == "pending":
        payment.status = "failed"
        payment.failure_code = code
        payment.failure_message = (message or "")[:500] or None
        payment.updated_at = now
        session.flush()


def _post_payment(session: Session, payment: Payment, *, intent_id: str, now: datetime) -> bool:
    posting_id = repository.claim_posting(
        session,
        payment_id=payment.id,
        kind="payment",
        stripe_object_id=intent_id,
        amount=payment.amount,
        now=now,
    )
    if posting_id is None:
        return False
    txn = history.post(
        session,
        direction="credit",
        account_id=payment.account_id,
        type_="payment",
        amount=payment.amount,
        against=ledger.House.STRIPE_CLEARING,
        currency=payment.currency,
        now=now,
        reference=payment.id,
        # The day the cardholder paid, not the day Stripe confirmed it: billing credits a payment
        # as of the day it was received (12 CFR 1026.10(a)).
        created_at=payment.created_at,
    )
    _set_posting_transfer(session, posting_id, txn.posting_transfer_id)
    payment.transaction_id = txn.id
    # On a charged-off account the payment recovers the loss (up to what is not recovered yet).
    recoveries.recover_after_credit(
        session,
        account_id=payment.account_id,
        currency=payment.currency,
        now=now,
        source_transaction_id=txn.id,
    )
    return True


def _set_posting_transfer(session: Session, posting_id: int, transfer_id: str | None) -> None:
    session.execute(
        text("update payment_postings set ledger_transfer_id = :t where id = :id"),
        {"t": transfer_id, "id": posting_id},
    )


def post_return(
    session: Session,
    *,
    payment_id: str,
    kind: str,
    stripe_object_id: str,
    amount: int,
    now: datetime,
    label: str | None = None,
) -> int:
    """Re-debit a refunded or disputed payment, once per Stripe object; the amount re-debited.
    ``label`` names the line in the history (a credit balance refund: ``credit_balances``)."""
    payment = repository.lock_payment(session, payment_id)
    if payment is None or payment.status != "succeeded":
        return 0
    amount = min(amount, payment.amount - payment.returned_amount)
    if amount <= 0:
        return 0
    posting_id = repository.claim_posting(
        session, payment_id=payment.id, kind=kind, stripe_object_id=stripe_object_id, amount=amount, now=now
    )
    if posting_id is None:
        return 0
    ledger.lock_balances(session, payment.account_id)
    minimum_due = minimum_due_before_return(session, payment, today=now.date()) if kind == "dispute" else 0
    _charge_customer(
        session,
        payment,
        posting_id,
        amount=amount,
        kind="payment_return",
        against=ledger.House.STRIPE_CLEARING,
        transaction_type="reversal",
        now=now,
        label=label,
    )
    payment.returned_amount += amount
    payment.updated_at = now
    # A recovered payment taken back: its recovery is undone (the loss stands again).
    recoveries.reverse_after_return(
        session,
        account_id=payment.account_id,
        amount=amount,
        currency=payment.currency,
        now=now,
        source_transaction_id=payment.transaction_id,
    )
    if kind == "dispute" and not recoveries.is_charged_off(session, payment.account_id):
        # No new charges on a written-off account: the fee is for an account still on the books.
        _charge_returned_payment_fee(session, payment, minimum_due=minimum_due, now=now)
    session.flush()
    return amount


def _charge_customer(
    session: Session,
    payment: Payment,
    posting_id: int,
    *,
    amount: int,
    kind: str,
    against: ledger.House,
    transaction_type: str,
    now: datetime,
    label: str | None = None,
) -> None:
    """Debit the paying customer for a claimed posting (a return, a fee): the ledger transfer,
    the posting's link to it, and the line in the customer's history."""
    transaction = history.post(
        session,
        direction="charge",
        account_id=payment.account_id,
        type_=transaction_type,
        kind=kind,
        amount=amount,
        against=against,
        currency=payment.currency,
        now=now,
        reference=payment.id,
        merchant_name=label,
        original_transaction_id=payment.transaction_id,
    )
    _set_posting_transfer(session, posting_id, transaction.posting_transfer_id)


def minimum_due_before_return(session: Session, payment: Payment, *, today: date) -> int:
    """The minimum payment due immediately before ``payment`` was returned, from billing's figures.

    12 CFR 1026.52(b)(1)(ii)(B) and its commentary (52(b)(1)(ii)-2.i.B): a returned-payment
    fee may not exceed "the required minimum periodic payment due immediately prior to the
    date on which the payment is returned". That is the latest statement's minimum less the
    other payments posted since it closed (the returned one no longer pays anything), plus
    what was already past due on earlier statements (billing's ``past_due_amount``). No
    statement yet: nothing is due, so no fee.
    """
    statement = billing_repository.latest_statements(session, [payment.account_id]).get(payment.account_id)
    if statement is None:
        return 0
    summary = billing.billing_summaries(session, [payment.account_id])[payment.account_id]
    paid = billing_repository.payments_since_close(session, [statement]).get(payment.account_id, 0)
    returned_counted = 0
    if payment.transaction_id is not None:
        txn = session.get(Transaction, payment.transaction_id)
        posted = txn.posted_at if txn is not None else None
        if posted is not None and posted.astimezone(UTC).date() > statement.period_end:
            # What of it payments_since_close still counts (earlier returns are netted there).
            returned_counted = payment.amount - payment.returned_amount
    current = max(statement.minimum_payment - (paid - returned_counted), 0)
    if statement.due_date < today:
        # The latest statement is past due itself: its unmet minimum is in past_due_amount
        # already (counted there before the return, so never more than is really due).
        return max(current, summary.past_due_amount)
    return current + summary.past_due_amount


def returned_payment_fee(*, minimum_due: int) -> int:
    """$25, never above the minimum payment due before the return, never negative."""
    return max(0, min(RETURNED_PAYMENT_FEE, minimum_due))


def _charge_returned_payment_fee(
    session: Session, payment: Payment, *, minimum_due: int, now: datetime
) -> None:
    fee = returned_payment_fee(minimum_due=minimum_due)
    if fee <= 0:
        return
    posting_id = repository.claim_posting(
        session,
        payment_id=payment.id,
        kind="return_fee",
        stripe_object_id=f"fee:{payment.id}",
        amount=fee,
        now=now,
    )
    if posting_id is None:
        return
    _charge_customer(
        session,
        payment,
        posting_id,
        amount=fee,
        kind="fee",
        against=ledger.House.FEE_INCOME,
        transaction_type="fee",
        now=now,
        label="Returned payment fee",
    )


# --- autopay -------------------------------------------------------------------------------------


def get_autopay(session: Session, *, account_id: str) -> AutopaySetting | None:
    return repository.select_autopay(session, account_id)


def set_autopay(
    session: Session,
    *,
    account: Account,
    actor_id: str,
    enabled: bool,
    amount: str,
    payment_method: str | None,
    now: datetime,
    client: stripe.StripeClient | None = None,
) -> AutopaySetting:
    """Store the account's autopay; the PaymentMethod is checked and saved to the owner's customer."""
    client = client or default_client()
    if enabled and not payment_method:
        raise UnprocessableEntity("Autopay needs a payment_method.", code="payment_method_required")
    saved: str | None = None
    if payment_method:
        customer_id = ensure_customer(session, user_id=account.user_id, client=client)
        attached = attach_payment_method(client, payment_method=payment_method, customer_id=customer_id)
        if isinstance(attached, MethodDeclined):
            raise UnprocessableEntity(
                f"Stripe declined the PaymentMethod: {attached.message}",
                code=attached.code,
                stripe_code=attached.code,
            )
        saved = attached
    setting = session.get(AutopaySetting, account.id, with_for_update=True)
    if setting is None:
        setting = AutopaySetting(account_id=account.id, created_at=now)
        session.add(setting)
    setting.enabled = enabled
    setting.amount = amount
    setting.payment_method = saved
    setting.updated_by = actor_id
    setting.updated_at = now
    session.flush()
    return setting


def run_autopay(
    session: Session,
    *,
    account_id: str,
    amount: int,
    now: datetime,
    client: stripe.StripeClient | None = None,
) -> Payment | None:
    """Pay ``amount`` (what billing says is due) by the account's autopay, once per account and day.

    The daily job calls it on the due date minus 2 days. ``amount`` is capped by
    the balance plus pending charges; nothing is paid when autopay is off or
    nothing is owed. A declined card is recorded as a failed payment, shown in
    the customer's payment history; a PaymentMethod gone from Stripe too.
    """
    client = client or default_client()
    setting = repository.select_autopay(session, account_id)
    account = session.get(Account, account_id)
    if setting is None or not setting.enabled or setting.payment_method is None or account is None:
        return None
    key = f"autopay:{account_id}:{now.date().isoformat()}"
    existing = repository.payment_by_key(session, account.user_id, key)
    if existing is not None:
        if existing.status == "pending":
            return _drive(session, existing.id, idempotency_key=key, client=client, now=now)
        return existing
    to_pay = min(amount, owed(session, account_id))
    if to_pay <= 0:
        return None
    try:
        return create_payment(
            session,
            account=account,
            payer_id=account.user_id,
            amount=to_pay,
            payment_method=setting.payment_method,
            idempotency_key=key,
            request_id=None,
            now=now,
            initiated_by="autopay",
            client=client,
        )
    except UnprocessableEntity as exc:
        failed = Payment(
            id=new_id("pay"),
            account_id=account.id,
            user_id=account.user_id,
            initiated_by="autopay",
            idempotency_key=key,
            amount=to_pay,
            currency=account.currency,
            status="failed",
            failure_code=exc.code,
            failure_message=exc.detail[:500],
            stripe_payment_method_id=setting.payment_method,
            created_at=now,
            updated_at=now,
        )
        session.add(failed)
        session.flush()
        return failed
