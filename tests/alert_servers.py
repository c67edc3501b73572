"""Real local servers that alerts are sent to in tests: SMTP (aiosmtpd) and an HTTP webhook."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

SMTP_LOGIN = ("alerts", "s3cret")


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
    ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == SMTP_LOGIN
    return AuthResult(success=ok)


@contextmanager
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    """An SMTP server on a free loopback port that takes SMTP_LOGIN: its SMTP_URL and mailbox."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield f"smtp://{SMTP_LOGIN[0]}:{SMTP_LOGIN[1]}@127.0.0.1:{port}", mailbox
    finally:
        controller.stop()


@contextmanager
def webhook_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP server that keeps every JSON body POSTed to it: its URL and the bodies."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append({"content_type": self.headers["Content-Type"], **body})
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
