"""Telling people: one ``notify()`` for the data platform's alerts (issue 22, finding 4).

Each alert goes to every channel that is configured:

- e-mail, when ``SMTP_URL`` is set: ``smtp://[user:password@]host[:port]`` (STARTTLS when the
  server offers it, or always with ``?starttls=true``) or ``smtps://…`` (TLS from the start),
  from ``ALERT_EMAIL_FROM`` to ``ALERT_EMAIL_TO`` (comma-separated);
- a webhook, when ``ALERT_WEBHOOK_URL`` is set: the alert POSTed as JSON
  (``{"subject", "body", "details", "sent_at"}``);
- the local outbox, always in sandbox: one JSON line per alert appended to
  ``$CARDPORTAL_HOME/outbox/alerts.jsonl``, which the dashboards' Data quality page shows.

Every channel is tried; when any fails, :class:`AlertDeliveryError` names the failed ones
after the others were served (a sensor's tick then fails and is retried: at least once). With
no channel at all (production without ``SMTP_URL`` or ``ALERT_WEBHOOK_URL``) it is raised too.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

if TYPE_CHECKING:
    from cardportal.settings import Settings

OUTBOX_FILE = "alerts.jsonl"


class AlertDeliveryError(RuntimeError):
    """One or more channels refused an alert; ``failures`` maps each channel to its error."""

    def __init__(self, failures: Mapping[str, str]) -> None:
        self.failures = dict(failures)
        super().__init__("alert not delivered: " + "; ".join(f"{k}: {v}" for k, v in self.failures.items()))


@dataclass(frozen=True)
class AlertChannels:
    """Where alerts go; built from the settings (:meth:`from_settings`) or by a test."""

    outbox: Path | None = None
    smtp_url: str | None = None
    email_from: str = "cardportal-alerts@localhost"
    email_to: tuple[str, ...] = ()
    webhook_url: str | None = None
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertChannels:
        return cls(
            outbox=outbox_path(settings.home) if settings.env == "sandbox" else None,
            smtp_url=settings.smtp_url.get_secret_value() if settings.smtp_url else None,
            email_from=settings.alert_email_from,
            email_to=tuple(settings.alert_email_to),
            webhook_url=str(settings.alert_webhook_url) if settings.alert_webhook_url else None,
            timeout_seconds=settings.alert_timeout_seconds,
        )

    @property
    def configured(self) -> list[str]:
        names = ["outbox"] if self.outbox else []
        if self.smtp_url:
            names.append("email")
        if self.webhook_url:
            names.append("webhook")
        return names


def outbox_path(home: Path) -> Path:
    return home / "outbox" / OUTBOX_FILE


def notify(
    channels: AlertChannels, *, subject: str, body: str, details: Mapping[str, Any] | None = None
) -> list[str]:
    """Send one alert on every configured channel; the channels that took it."""
    alert = {
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "subject": subject,
        "body": body,
        "details": dict(details or {}),
    }
    if not channels.configured:
        # Production without SMTP_URL or ALERT_WEBHOOK_URL: fail loudly (the sensor's tick fails
        # in the Dagster UI) rather than tell no one.
        raise AlertDeliveryError({"none": "no channel configured: set SMTP_URL or ALERT_WEBHOOK_URL"})
    delivered: list[str] = []
    failures: dict[str, str] = {}
    senders = {"outbox": _to_outbox, "email": _by_email, "webhook": _by_webhook}
    for name in channels.configured:
        try:
            senders[name](channels, alert)
        except Exception as error:  # every channel gets its chance; the failures are reported
            failures[name] = f"{type(error).__name__}: {error}"
        else:
            delivered.append(name)
    if failures:
        raise AlertDeliveryError(failures)
    return delivered


def read_outbox(home: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` alerts of the sandbox outbox, newest first (malformed lines skipped)."""
    path = outbox_path(home)
    if not path.exists():
        return []
    alerts = []
    for line in path.read_text().splitlines()[-limit:]:
        try:
            alerts.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return alerts[::-1]


def _to_outbox(channels: AlertChannels, alert: dict[str, Any]) -> None:
    assert channels.outbox is not None
    channels.outbox.parent.mkdir(parents=True, exist_ok=True)
    # One write of one line in append mode: concurrent writers do not interleave lines.
    with channels.outbox.open("a") as handle:
        handle.write(json.dumps(alert, default=str) + "\n")


def _by_webhook(channels: AlertChannels, alert: dict[str, Any]) -> None:
    assert channels.webhook_url is not None
    response = httpx.post(
        channels.webhook_url,
        content=json.dumps(alert, default=str),
        headers={"Content-Type": "application/json"},
        timeout=channels.timeout_seconds,
    )
    response.raise_for_status()


def _by_email(channels: AlertChannels, alert: dict[str, Any]) -> None:
    assert channels.smtp_url is not None
    if not channels.email_to:
        raise ValueError("ALERT_EMAIL_TO names no recipient")
    url = urlsplit(channels.smtp_url)
    if url.scheme not in {"smtp", "smtps"}:
        raise ValueError(f"SMTP_URL must be smtp:// or smtps://, not {url.scheme}://")
    options = {key: values[-1].lower() for key, values in parse_qs(url.query).items()}
    message = EmailMessage()
    message["Subject"] = f"[cardportal] {alert['subject']}"
    message["From"] = channels.email_from
    message["To"] = ", ".join(channels.email_to)
    details = json.dumps(alert["details"], indent=2, default=str)
    message.set_content(f"{alert['body']}\n\nSent {alert['sent_at']}.\n\nDetails:\n{details}\n")
    host = url.hostname or "localhost"
    smtp: smtplib.SMTP
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(
            host, url.port or 465, timeout=channels.timeout_seconds, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(host, url.port or 25, timeout=channels.timeout_seconds)
    with smtp:
        if url.scheme == "smtp":
            smtp.ehlo()
            if options.get("starttls") == "true" or smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
