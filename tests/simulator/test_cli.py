"""Nonsense options stop with a clear message and exit code 2, not a traceback; the expected
declines stay out of the output."""

from __future__ import annotations

import logging

import pytest

from cardportal.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--customers", "-1"], "--customers must be at least 1"),
        (["--days", "0"], "--days must be at least 1"),
        (["--workers", "0"], "--workers must be between 1 and 64"),
        (["--base-url", "http://127.0.0.1:9"], "is not reachable"),
        (["--bulk", "--customers", "-1"], "--customers must be at least 1"),
        (["--bulk", "--days", "0"], "--days must be at least 1"),
        (["--bulk", "--batch-size", "0"], "--batch-size must be between 1 and 10000"),
        (["--bulk", "--base-url", "http://127.0.0.1:9"], "it takes no --base-url"),
    ],
)
def test_nonsense_options_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
) -> None:
    monkeypatch.setenv("CARDPORTAL_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@/unused?host=/nonexistent")
    from cardportal.settings import get_settings

    get_settings.cache_clear()
    try:
        assert main(["simulate", *argv]) == 2
    finally:
        get_settings.cache_clear()
    assert message in capsys.readouterr().err


def test_declined_autopays_do_not_interleave_with_the_progress(caplog: pytest.LogCaptureFixture) -> None:
    """The world's declining cards are counted in the summary; the daily job's warning for each
    is held back while a simulation runs (errors are not), and comes back after."""
    from simulator import cli as simulator_cli

    payments_log = logging.getLogger("cardportal.payments")
    with caplog.at_level(logging.WARNING):
        with simulator_cli._expected_declines():
            payments_log.warning("autopay pay_1 of acct_1 declined: card_declined")
            payments_log.error("reconciliation of 2031-01-01 failed, Stripe unavailable")
        payments_log.warning("autopay pay_2 of acct_2 declined: card_declined")
    assert [r.getMessage() for r in caplog.records] == [
        "reconciliation of 2031-01-01 failed, Stripe unavailable",
        "autopay pay_2 of acct_2 declined: card_declined",
    ]
