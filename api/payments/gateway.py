"""The Stripe client the platform uses (the official SDK's ``StripeClient``).

``STRIPE_API_BASE`` points it at the emulator (localstripe) in the sandbox
and in tests. ``configure`` records the process's client so that code run
outside a request (the daily job's autopay, reconciliation) finds the same
one the API uses.
"""

from __future__ import annotations

import hashlib

import stripe

from cardportal.settings import Settings

# Stripe's idempotency keys are at most 255 characters and global to the Stripe account.
STRIPE_IDEMPOTENCY_KEY_MAX = 255

_default: stripe.StripeClient | None = None


def build_client(settings: Settings) -> stripe.StripeClient:
    base = {"api": settings.stripe_api_base.rstrip("/")} if settings.stripe_api_base else None
    return stripe.StripeClient(
        settings.secret("stripe_api_key"),
        base_addresses=base,  # type: ignore[arg-type]
        # Retries reuse the same idempotency key; connection errors only.
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=20),
    )


def configure(client: stripe.StripeClient | None) -> None:
    """Record the process's client (None: none, so the daily job skips Stripe)."""
    global _default
    _default = client


def configured_client() -> stripe.StripeClient | None:
    """The process's client, or None when nothing configured one (the daily job then skips Stripe)."""
    return _default


def default_client() -> stripe.StripeClient:
    if _default is None:
        raise RuntimeError("Stripe is not configured: call api.payments.gateway.configure first")
    return _default


def stripe_idempotency_key(*parts: str) -> str:
    """Our key, made global for Stripe: our keys are scoped to a caller, Stripe's are not."""
    key = ":".join(("cardportal", *parts))
    if len(key) <= STRIPE_IDEMPOTENCY_KEY_MAX:
        return key
    return "cardportal:sha256:" + hashlib.sha256(key.encode()).hexdigest()
