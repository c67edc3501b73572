"""Alerts reach a real SMTP server (aiosmtpd), a real HTTP endpoint and the sandbox outbox."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from cardportal.notify import AlertChannels, AlertDeliveryError, notify, outbox_path, read_outbox
from cardportal.settings import ConfigurationError, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:  # noqa: ARG002
        self.messages.append(envelope)
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"s3cret")
    return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(
                {"content_type": self.headers["Content-Type"], **json.loads(self.rfile.read(length))}
            )
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts", received
    finally:
        server.shutdown()
        server.server_close()


def test_an_alert_reaches_email_webhook_and_outbox(
    tmp_path: Path, smtp_server: tuple[int, Mailbox], webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    port, mailbox = smtp_server
    url, received = webhook
    channels = AlertChannels(
        outbox=outbox_path(tmp_path),
        smtp_url=f"smtp://alerts:s3cret@127.0.0.1:{port}",
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
    tmp_path: Path, smtp_server: tuple[int, Mailbox]
) -> None:
    port, mailbox = smtp_server
    channels = AlertChannels(
        outbox=outbox_path(tmp_path),
        smtp_url=f"smtp://alerts:s3cret@127.0.0.1:{port}",
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
