"""Every model, imported once so that ``Base.metadata`` knows all tables."""

from api.accounts.models import Account
from api.applications.models import Application
from api.audit.models import AuditEvent
from api.auth.models import LoginThrottle, RefreshToken, User
from api.billing.models import AccountBilling, BillingRun, Statement
from api.cards.models import Card
from api.clock import PlatformClock
from api.db import Base
from api.gateway.idempotency import IdempotencyRecord
from api.gateway.ratelimit import RateLimitCounter
from api.ledger.models import LedgerAccount, LedgerEntry, LedgerTransfer
from api.network.models import Transaction
from api.payments.models import (
    AutopaySetting,
    CreditBalanceRefund,
    Payment,
    PaymentException,
    PaymentPosting,
    StripeCustomer,
    StripeEvent,
)

__all__ = [
    "Account",
    "AccountBilling",
    "Application",
    "AuditEvent",
    "AutopaySetting",
    "Base",
    "BillingRun",
    "Card",
    "CreditBalanceRefund",
    "IdempotencyRecord",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerTransfer",
    "LoginThrottle",
    "Payment",
    "PaymentException",
    "PaymentPosting",
    "PlatformClock",
    "RateLimitCounter",
    "RefreshToken",
    "Statement",
    "StripeCustomer",
    "StripeEvent",
    "Transaction",
    "User",
]
