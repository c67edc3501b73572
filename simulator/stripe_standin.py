"""An in-process stand-in for the slice of Stripe that payments use, for ``--bulk`` worlds.

Why not the emulator (localstripe) in bulk mode: every payment costs it three
or four HTTP calls (~10 ms each here), and the daily reconciliation lists
*every* PaymentIntent it holds, 100 per page, because it ignores the
``created`` filter: a year of 10,000 customers (≈ 120,000 payments) would
spend hours in Stripe alone. So ``--bulk`` hands the payments service this
object as its ``client`` (the seam ``api.payments.service`` already takes):
every rule of the payments service still runs (overpayment checks, the
pending row committed before "Stripe" is called, create-then-confirm,
``apply_intent``, exactly-once postings, autopay, reconciliation); only the
far side of the wire is a dictionary.

It answers like the emulator does for the calls made: Customers,
PaymentMethods (create, retrieve, attach), PaymentIntents (create, confirm,
retrieve, list), Refunds (create: the daily job's return of a credit balance).
Card 4000000000000341 attaches, then is declined when charged (``CardError``,
``card_declined``, the PaymentIntent back to ``requires_payment_method``). PaymentIntents are stamped with the
platform's clock (``now``), so reconciliation finds each on its business day.
The objects are the SDK's own (``construct_from``), read by attribute.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import stripe

DECLINED_AT_CHARGE = {"4000000000000341"}


class _Resource:
    def __init__(self, owner: InProcessStripe) -> None:
        self.owner = owner


class _Customers(_Resource):
    def create(self, params: dict[str, Any] | None = None, options: Any = None) -> Any:  # noqa: ARG002
        return self.owner.make("cus", stripe.Customer, {"email": (params or {}).get("email")})


class _PaymentMethods(_Resource):
    def create(self, params: dict[str, Any] | None = None, options: Any = None) -> Any:  # noqa: ARG002
        number = str(((params or {}).get("card") or {}).get("number", ""))
        method = self.owner.make(
            "pm", stripe.PaymentMethod, {"type": "card", "customer": None, "card": {"last4": number[-4:]}}
        )
        self.owner.card_numbers[method.id] = number
        return method

    def retrieve(self, method_id: str, params: Any = None, options: Any = None) -> Any:  # noqa: ARG002
        return self.owner.get(method_id, "payment_method")

    def attach(self, method_id: str, params: dict[str, Any] | None = None, options: Any = None) -> Any:  # noqa: ARG002
        method = self.owner.get(method_id, "payment_method")
        with self.owner.lock:
            method["customer"] = (params or {})["customer"]
        return method


class _Page:
    def __init__(self, items: list[Any]) -> None:
        self.data = items

    def auto_paging_iter(self) -> Iterator[Any]:
        return iter(self.data)


class _PaymentIntents(_Resource):
    def create(self, params: dict[str, Any] | None = None, options: Any = None) -> Any:  # noqa: ARG002
        params = params or {}
        intent = self.owner.make(
            "pi",
            stripe.PaymentIntent,
            {
                "amount": int(params["amount"]),
                "currency": params.get("currency", "usd"),
                "customer": params.get("customer"),
                "payment_method": params.get("payment_method"),
                "status": "requires_confirmation",
                "metadata": dict(params.get("metadata") or {}),
                "last_payment_error": None,
                "created": int(self.owner.now().timestamp()),
            },
        )
        with self.owner.lock:
            self.owner.intents.append(intent)
        return intent

    def confirm(self, intent_id: str, params: Any = None, options: Any = None) -> Any:  # noqa: ARG002
        intent = self.owner.get(intent_id, "payment_intent")
        if intent.status != "requires_confirmation":
            return intent
        if self.owner.card_numbers.get(str(intent.payment_method)) in DECLINED_AT_CHARGE:
            message = "Your card was declined."
            with self.owner.lock:
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = stripe.StripeObject.construct_from(
                    {"code": "card_declined", "message": message}, "sk_in_process"
                )
            raise stripe.CardError(message, None, "card_declined", http_status=402)  # type: ignore[no-untyped-call]
        with self.owner.lock:
            intent["status"] = "succeeded"
        return intent

    def retrieve(self, intent_id: str, params: Any = None, options: Any = None) -> Any:  # noqa: ARG002
        return self.owner.get(intent_id, "payment_intent")

    def list(self, params: Any = None, options: Any = None) -> _Page:  # noqa: ARG002
        with self.owner.lock:
            return _Page(list(reversed(self.owner.intents)))


class _Refunds(_Resource):
    def create(self, params: dict[str, Any] | None = None, options: Any = None) -> Any:  # noqa: ARG002
        """A refund of a succeeded PaymentIntent (the platform's return of a credit balance)."""
        params = params or {}
        intent = self.owner.get(str(params["payment_intent"]), "payment_intent")
        if intent.status != "succeeded":
            raise stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
                "Cannot refund a payment that did not succeed.",
                None,
                "charge_not_refundable",
                http_status=400,
            )
        return self.owner.make(
            "re",
            stripe.Refund,
            {
                "amount": int(params.get("amount") or intent.amount),
                "currency": intent.currency,
                "payment_intent": intent.id,
                "status": "succeeded",
                "metadata": dict(params.get("metadata") or {}),
                "created": int(self.owner.now().timestamp()),
            },
        )


class _V1:
    def __init__(self, owner: InProcessStripe) -> None:
        self.customers = _Customers(owner)
        self.payment_methods = _PaymentMethods(owner)
        self.payment_intents = _PaymentIntents(owner)
        self.refunds = _Refunds(owner)


class InProcessStripe:
    """Quacks like ``stripe.StripeClient`` for ``client.v1.{customers, payment_methods,
    payment_intents, refunds}``."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.lock = threading.Lock()
        self.objects: dict[str, Any] = {}
        self.card_numbers: dict[str, str] = {}
        self.intents: list[Any] = []
        self._serial = itertools.count(1)
        self.v1 = _V1(self)

    def make(self, prefix: str, kind: type[stripe.StripeObject], values: dict[str, Any]) -> Any:
        with self.lock:
            object_id = f"{prefix}_inproc{next(self._serial):012d}"
            made = kind.construct_from({"id": object_id, **values}, "sk_in_process")
            self.objects[object_id] = made
            return made

    def get(self, object_id: str, what: str) -> Any:
        with self.lock:
            found = self.objects.get(object_id)
        if found is None:
            raise stripe.InvalidRequestError(  # type: ignore[no-untyped-call]
                f"No such {what}: '{object_id}'", None, "resource_missing", http_status=404
            )
        return found
