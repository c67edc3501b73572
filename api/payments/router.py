"""Payments (customers), autopay, Stripe's webhook endpoint, and reconciliation exceptions (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import stripe
from fastapi import APIRouter, Depends, Header, Request

from api.accounts import service as accounts_service
from api.audit import service as audit
from api.deps import (
    AdminPrincipal,
    ClockDep,
    CurrentPrincipal,
    OriginDep,
    SessionDep,
    SettingsDep,
    UserIdempotency,
)
from api.errors import problem_responses
from api.ids import PathId
from api.pagination import CursorParam, LimitParam, Page, paginate
from api.payments import credit_balances, repository, service, webhooks
from api.payments.models import CreditBalanceRefund, Payment, PaymentException
from api.payments.schemas import (
    AutopayIn,
    AutopayOut,
    CreditBalanceRefundOut,
    PaymentExceptionOut,
    PaymentIn,
    PaymentOut,
    WebhookAck,
)

router = APIRouter(tags=["payments"], responses=problem_responses(401, 404, 422))

AccountId = PathId
_ERRORS = problem_responses(
    404,
    422,
    s404="account_not_found",
    s422="overpayment, invalid_amount, idempotency_key_reused, or Stripe's code",
)


def _stripe(request: Request) -> stripe.StripeClient:
    client: stripe.StripeClient = request.app.state.stripe
    return client


@router.post("/v1/accounts/{id}/payments", status_code=201, responses=_ERRORS)
def create_payment(
    id: AccountId,
    body: PaymentIn,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    idem: UserIdempotency,
    origin: OriginDep,
) -> PaymentOut:
    """Pay the account from a Stripe PaymentMethod. A card Stripe declines is a 201 `failed` and
    moves no money; the balance drops once Stripe says the payment succeeded, once."""
    account = accounts_service.visible_account(session, principal, id)
    assert idem.key is not None
    payment = service.create_payment(
        session,
        account=account,
        payer_id=principal.user_id,
        amount=body.amount,
        payment_method=body.payment_method,
        idempotency_key=idem.key,
        request_id=getattr(request.state, "request_id", None),
        now=clock.now(),
        client=_stripe(request),
        origin=origin,
    )
    return idem.save(201, PaymentOut.of(payment))


@router.post(
    "/v1/accounts/{id}/credit-balance-refunds",
    status_code=201,
    responses=problem_responses(
        404, 409, s404="account_not_found", s409="no_credit_balance, or idempotency_key_in_use"
    ),
)
def create_credit_balance_refund(
    id: AccountId,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    idem: UserIdempotency,
    origin: OriginDep,
) -> CreditBalanceRefundOut:
    """Return the account's whole credit balance to the cardholder (12 CFR 1026.11(a)(2)), through
    Stripe refunds of their own payments, newest first; what no payment can take back is recorded
    as `pending` (a check, shown to admins). 409 `no_credit_balance` when nothing is owed to them."""
    account = accounts_service.visible_account(session, principal, id)
    refund = credit_balances.refund_credit_balance(
        session,
        account=account,
        requested_by=principal.user_id,
        request_id=getattr(request.state, "request_id", None),
        now=clock.now(),
        client=_stripe(request),
        origin=origin,
    )
    return idem.save(201, CreditBalanceRefundOut.of(refund))


@router.get(
    "/v1/accounts/{id}/credit-balance-refunds", responses=problem_responses(404, s404="account_not_found")
)
def list_credit_balance_refunds(
    id: AccountId,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[CreditBalanceRefundOut]:
    """The account's credit balance refunds, newest first (the platform's after six months too)."""
    account = accounts_service.visible_account(session, principal, id)
    rows, next_cursor = paginate(
        session,
        credit_balances.refunds_query().where(CreditBalanceRefund.account_id == account.id),
        created_at=CreditBalanceRefund.created_at,
        row_id=CreditBalanceRefund.id,
        limit=limit,
        cursor=cursor,
    )
    return Page[CreditBalanceRefundOut](
        data=[CreditBalanceRefundOut.of(r) for r in rows], next_cursor=next_cursor
    )


@router.get("/v1/accounts/{id}/payments", responses=problem_responses(404, s404="account_not_found"))
def list_payments(
    id: AccountId,
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[PaymentOut]:
    """The account's payments, newest first (autopay's, failed ones too)."""
    account = accounts_service.visible_account(session, principal, id)
    rows, next_cursor = paginate(
        session,
        repository.payments_of_account(account.id),
        created_at=Payment.created_at,
        row_id=Payment.id,
        limit=limit,
        cursor=cursor,
    )
    return Page[PaymentOut](data=[PaymentOut.of(p) for p in rows], next_cursor=next_cursor)


def _autopay_out(account_id: str, setting: Any) -> AutopayOut:
    if setting is None:
        return AutopayOut(
            account_id=account_id, enabled=False, amount="minimum", payment_method=None, updated_at=None
        )
    return AutopayOut(
        account_id=account_id,
        enabled=setting.enabled,
        amount=setting.amount,
        payment_method=setting.payment_method,
        updated_at=setting.updated_at,
    )


@router.get("/v1/accounts/{id}/autopay", responses=problem_responses(404, s404="account_not_found"))
def get_autopay(id: AccountId, principal: CurrentPrincipal, session: SessionDep) -> AutopayOut:
    """The account's autopay setting (off until set)."""
    account = accounts_service.visible_account(session, principal, id)
    return _autopay_out(account.id, service.get_autopay(session, account_id=account.id))


@router.put("/v1/accounts/{id}/autopay", responses=_ERRORS)
def put_autopay(
    id: AccountId,
    body: AutopayIn,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    origin: OriginDep,
) -> AutopayOut:
    """Turn autopay on (for the minimum or the statement balance, with a PaymentMethod that is
    saved to the owner's Stripe customer) or off. Paid on the due date minus 2 days. Audited."""
    account = accounts_service.visible_account(session, principal, id)
    audit.record(
        session,
        action=audit.AUTOPAY_CHANGED,
        actor_id=principal.user_id,
        target=account.id,
        origin=origin,
        detail={"enabled": body.enabled, "amount": body.amount},
    )
    setting = service.set_autopay(
        session,
        account=account,
        actor_id=principal.user_id,
        enabled=body.enabled,
        amount=body.amount,
        payment_method=body.payment_method,
        now=clock.now(),
        client=_stripe(request),
    )
    return _autopay_out(account.id, setting)


async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


@router.post(
    "/v1/webhooks/stripe",
    responses=problem_responses(400, s400="invalid_webhook: unsigned, forged, stale, future or malformed"),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", "description": "A Stripe event"}}},
        }
    },
)
def stripe_webhook(
    request: Request,
    body: RawBody,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
) -> WebhookAck:
    """Stripe's events, verified by signature, stored by id, then acted on. A seen id is a 200
    that changes nothing; an unknown type is stored and ignored."""
    event = webhooks.verify(body, stripe_signature, secret=settings.secret("stripe_webhook_secret"))
    outcome = webhooks.receive(
        session,
        event=event,
        request_id=getattr(request.state, "request_id", None),
        now=clock.now(),
        client=_stripe(request),
    )
    return WebhookAck(received=True, id=event.id, outcome=outcome)


@router.get("/v1/admin/payment-exceptions", tags=["admin"])
def list_payment_exceptions(
    _: AdminPrincipal, session: SessionDep, limit: LimitParam = 50, cursor: CursorParam = None
) -> Page[PaymentExceptionOut]:
    """Reconciliation mismatches between Stripe, the payments table and the ledger, newest first."""
    rows, next_cursor = paginate(
        session,
        repository.exceptions_query(),
        created_at=PaymentException.created_at,
        row_id=PaymentException.id,
        limit=limit,
        cursor=cursor,
    )
    return Page[PaymentExceptionOut](data=[PaymentExceptionOut.of(r) for r in rows], next_cursor=next_cursor)


@router.get("/v1/admin/credit-balance-refunds", tags=["admin"])
def list_all_credit_balance_refunds(
    _: AdminPrincipal,
    session: SessionDep,
    status: Literal["succeeded", "pending"] | None = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[CreditBalanceRefundOut]:
    """Every credit balance refund, newest first; `?status=pending`: the parts that await a check
    (a credit balance with no payment of the cardholder's left to refund)."""
    rows, next_cursor = paginate(
        session,
        credit_balances.refunds_query(status=status),
        created_at=CreditBalanceRefund.created_at,
        row_id=CreditBalanceRefund.id,
        limit=limit,
        cursor=cursor,
    )
    return Page[CreditBalanceRefundOut](
        data=[CreditBalanceRefundOut.of(r) for r in rows], next_cursor=next_cursor
    )
