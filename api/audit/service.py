"""Record audit events, in the caller's transaction (the action and its trace commit together).

Actions (stable names; the warehouse reads them):

| action                    | actor            | target                  |
|---------------------------|------------------|-------------------------|
| auth.login                | the user         | the user                |
| auth.login_failed         | the user or null | ``email:<address>``     |
| auth.refresh_token_reused | the token's user | the token family        |
| user.role_changed         | the admin        | the user                |
| auth.login_unlocked       | the admin        | the user                |
| application.decided       | the admin        | the application         |
| card.frozen / unfrozen    | the caller       | the card                |
| card.controls_changed     | the caller       | the card                |
| clock.advanced            | the admin        | ``platform_clock``      |
| payment.created           | the payer        | the payment             |
| report.downloaded         | the reader       | the report              |
| auth.registered           | the new user     | the user                |
| auth.logout               | the token's user | the token family        |
| autopay.changed           | the caller       | the account             |
| admin.users_read          | the admin        | ``users``               |
| admin.audit_read          | the admin        | ``audit_events``        |
| staff.customer_data_read  | the staff member | the account, statement  |
| auth.mfa_enrolled         | the user         | the user                |
| auth.mfa_confirmed        | the user         | the user                |
| auth.mfa_confirm_failed   | the user         | the user                |
| auth.mfa_reset            | the admin        | the user                |
| auth.session_idle         | the token's user | the token family        |

A wrong or replayed one-time code at sign-in is an ``auth.login_failed`` (reason
``invalid_otp``, counted toward the lockout); a missing one is too (reason ``otp_missing``, not
counted: the password was right).

Reads are audited where PCI DSS 10.2 asks: an administrator's reads of users and of the
audit trail itself, and staff reading a customer's account, history, statements or PDFs
(``staff_read``); a customer reading their own data is not an event.

``detail`` never holds a password, token, card number or secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from api.audit.models import AuditEvent
from api.clock import Clock
from api.ids import new_id

LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
REFRESH_TOKEN_REUSED = "auth.refresh_token_reused"
LOGIN_UNLOCKED = "auth.login_unlocked"
ROLE_CHANGED = "user.role_changed"
APPLICATION_DECIDED = "application.decided"
CARD_FROZEN = "card.frozen"
CARD_UNFROZEN = "card.unfrozen"
CARD_CONTROLS_CHANGED = "card.controls_changed"
CLOCK_ADVANCED = "clock.advanced"
PAYMENT_CREATED = "payment.created"
CREDIT_BALANCE_REFUNDED = "credit_balance.refunded"
REPORT_DOWNLOADED = "report.downloaded"
REGISTERED = "auth.registered"
LOGOUT = "auth.logout"
AUTOPAY_CHANGED = "autopay.changed"
USERS_READ = "admin.users_read"
AUDIT_READ = "admin.audit_read"
CUSTOMER_DATA_READ = "staff.customer_data_read"
CREDIT_LIMIT_REQUESTED = "credit_limit.requested"
MFA_ENROLLED = "auth.mfa_enrolled"
MFA_CONFIRMED = "auth.mfa_confirmed"
MFA_CONFIRM_FAILED = "auth.mfa_confirm_failed"
MFA_RESET = "auth.mfa_reset"
SESSION_IDLE = "auth.session_idle"

ACTIONS = (
    LOGIN,
    LOGIN_FAILED,
    REFRESH_TOKEN_REUSED,
    LOGIN_UNLOCKED,
    ROLE_CHANGED,
    APPLICATION_DECIDED,
    CARD_FROZEN,
    CARD_UNFROZEN,
    CARD_CONTROLS_CHANGED,
    CLOCK_ADVANCED,
    PAYMENT_CREATED,
    CREDIT_BALANCE_REFUNDED,
    REPORT_DOWNLOADED,
    REGISTERED,
    LOGOUT,
    AUTOPAY_CHANGED,
    USERS_READ,
    AUDIT_READ,
    CUSTOMER_DATA_READ,
    CREDIT_LIMIT_REQUESTED,
    MFA_ENROLLED,
    MFA_CONFIRMED,
    MFA_CONFIRM_FAILED,
    MFA_RESET,
    SESSION_IDLE,
)


@dataclass(frozen=True)
class Origin:
    """Where a request came from: the peer address and the gateway's request id."""

    ip: str | None = None
    request_id: str | None = None


# For actions started outside HTTP (the CLI, start-up, tests of services).
NO_ORIGIN = Origin()


def _values(
    *,
    action: str,
    actor_id: str | None,
    target: str | None,
    origin: Origin,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "id": new_id("aud"),
        "actor_id": actor_id,
        "action": action,
        "target": target[:340] if target else target,
        "ip": origin.ip,
        "request_id": origin.request_id,
        # Audit time is wall time, like token lifetimes (see api.clock.Clock.wall_now).
        "created_at": Clock.wall_now(),
        "detail": detail or {},
    }


def record(
    session: Session,
    *,
    action: str,
    actor_id: str | None,
    target: str | None,
    origin: Origin,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one event to the session's transaction."""
    session.execute(
        insert(AuditEvent).values(
            **_values(action=action, actor_id=actor_id, target=target, origin=origin, detail=detail)
        )
    )


def record_on(
    connection: Connection,
    *,
    action: str,
    actor_id: str | None,
    target: str | None,
    origin: Origin,
    detail: dict[str, Any] | None = None,
) -> None:
    """The same on a Core connection (for actions that commit on a connection of their own)."""
    connection.execute(
        insert(AuditEvent).values(
            **_values(action=action, actor_id=actor_id, target=target, origin=origin, detail=detail)
        )
    )


def staff_read(
    session: Session,
    *,
    reader_id: str,
    reader_role: str,
    owner_id: str | None,
    target: str,
    what: str,
    origin: Origin,
) -> None:
    """Record a staff member's read of a customer's data (PCI DSS 10.2.1.1: all individual
    user accesses to cardholder data); nothing when customers read their own."""
    if reader_role == "customer" or reader_id == owner_id:
        return
    record(
        session,
        action=CUSTOMER_DATA_READ,
        actor_id=reader_id,
        target=target,
        origin=origin,
        detail={"what": what, "owner_id": owner_id},
    )
