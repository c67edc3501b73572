"""`cardportal up` in sandbox mode: localstripe as a child, the SDK pointed at it, stopped with `up`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cardportal.stripe_emulator import start_for_api
from tests.conftest import make_settings


def test_up_starts_registers_and_stops_the_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)
    settings = make_settings(tmp_path)
    assert settings.stripe_api_base is None
    emulator = start_for_api(settings, "0.0.0.0", 8765)
    assert emulator is not None
    try:
        assert settings.stripe_api_base == emulator.url
        assert os.environ["STRIPE_API_BASE"] == emulator.url
        assert (tmp_path / "run" / "stripe-emulator.url").read_text() == emulator.url
        from api.payments.gateway import build_client

        customer = build_client(settings).v1.customers.create(params={"email": "x@example.com"})
        assert customer.id.startswith("cus_")
    finally:
        emulator.stop()
    assert emulator.process.poll() is not None
    # Production never starts one, nor does a configured STRIPE_API_BASE.
    configured = make_settings(tmp_path, STRIPE_API_BASE="http://127.0.0.1:1")
    assert start_for_api(configured, "127.0.0.1", 8765) is None
