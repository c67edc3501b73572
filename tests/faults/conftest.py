"""Fixtures of the crash battery: Stripe PaymentMethods in the emulator, and a report of figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stripe

from cardportal.stripe_emulator import Emulator
from tests.api.payments.conftest import VISA, payment_method

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


@pytest.fixture
def new_payment_method(stripe_emulator: Emulator) -> Any:
    client = stripe.StripeClient("sk_test_faults", base_addresses={"api": stripe_emulator.url})

    def make() -> str:
        return payment_method(client, VISA)

    return make


def write_result(name: str, figures: dict[str, Any]) -> None:
    """Figures of a fault or load run, for the report (bench/results/<name>.json)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
