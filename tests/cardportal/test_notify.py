"""Alerts reach a real SMTP server (aiosmtpd), a real HTTP endpoint and the sandbox outbox."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from cardportal.notify import AlertChannels, AlertDeliveryError, notify, outbox_path, read_outbox
from cardportal.settings import ConfigurationError, Settings
from tests.alert_servers import Mailbox, free_port, smtp_server, webhook_server


@pytest.fixture
def smtp() -> Iterator[tuple[str, Mailbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with webhook_server() as server:
        yield server


def test_an_alert_reaches_email_webhook_and_outbox(
    tmp_path: Path, smtp: tuple[str, Mailbox], webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    smtp_url, mailbox = smtp
    url, received = webhook
    channels = AlertChannels(
        outbox=outbox_path(tmp_path),
        smtp_url=smtp_url,
        email_from="pipelines@cardportal.test",
        email_to=("data-oncall@cardportal.test", "finance@cardportal.test"),
        webhook_url=url,
        timeout_seconds=5,
    )
    delivered = notify(
        channels, subject="Run failed: daily_job", body="The run stopped.", details={"run_id": "r1"}
    )

    assert delivered == ["outbox", "email", "webhook"]
    [envelope] = mailbox.messages
    assert envelope.mail_from == "pipelines@cardportal.test"
    assert envelope.rcpt_tos == ["data-oncall@cardportal.test", "finance@cardportal.test"]
    assert isinstance(envelope.content, bytes)
    email = message_from_bytes(envelope.content)
    assert email["Subject"] == "[cardportal] Run failed: daily_job"
    assert '"run_id": "r1"' in email.get_payload()
    [posted] = received
    assert posted["content_type"] == "application/json"
    assert (posted["subject"], posted["body"], posted["details"]) == (
        "Run failed: daily_job",
        "The run stopped.",
        {"run_id": "r1"},
    )
    [line] = read_outbox(tmp_path)
    assert line["subject"] == "Run failed: daily_job"


def test_a_refusing_channel_is_reported_after_the_others_are_served(
    tmp_path: Path, smtp: tuple[str, Mailbox]
) -> None:
    smtp_url, mailbox = smtp
    channels = AlertChannels(
        outbox=outbox_path(tmp_path),
        smtp_url=smtp_url,
        email_to=("data-oncall@cardportal.test",),
        webhook_url=f"http://127.0.0.1:{free_port()}/nobody-listens",
        timeout_seconds=2,
    )
    with pytest.raises(AlertDeliveryError) as raised:
        notify(channels, subject="s", body="b")
    assert set(raised.value.failures) == {"webhook"}
    assert len(mailbox.messages) == 1
    assert len(read_outbox(tmp_path)) == 1


def test_the_outbox_is_newest_first_and_skips_a_torn_line(tmp_path: Path) -> None:
    channels = AlertChannels(outbox=outbox_path(tmp_path))
    for n in range(3):
        notify(channels, subject=f"alert {n}", body="")
    with outbox_path(tmp_path).open("a") as handle:
        handle.write('{"subject": "torn\n')
    assert [a["subject"] for a in read_outbox(tmp_path, limit=10)] == ["alert 2", "alert 1", "alert 0"]


def test_no_channel_at_all_is_an_error_not_silence() -> None:
    with pytest.raises(AlertDeliveryError, match="no channel configured"):
        notify(AlertChannels(), subject="s", body="b")


def test_channels_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        CARDPORTAL_HOME=tmp_path,
        SMTP_URL="smtps://mail.example.com",
        ALERT_EMAIL_TO="a@example.com, b@example.com",
        ALERT_WEBHOOK_URL="https://hooks.example.com/x",
    )
    channels = AlertChannels.from_settings(settings)
    assert channels.outbox == tmp_path.resolve() / "outbox" / "alerts.jsonl"
    assert channels.email_to == ("a@example.com", "b@example.com")
    assert channels.configured == ["outbox", "email", "webhook"]
    with pytest.raises(ConfigurationError, match="ALERT_EMAIL_TO"):
        Settings(CARDPORTAL_HOME=tmp_path, SMTP_URL="smtp://mail.example.com")
