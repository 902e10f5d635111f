"""Notification outbox: queue a message in the caller's transaction, deliver it from a worker.

A message is a ``notifications`` row first. Its ``dedupe_key`` is unique, so queuing the same
reminder or code twice (a retried job, a double click) keeps one row and sends once. Delivery is
an RQ job (``notification.deliver``) pushed after commit; a channel that fails raises, the job
retries with backoff, and the row records the attempts and the last error.

Channels are pluggable by Settings: email by SMTP, SMS and WhatsApp by a webhook gateway, and the
embedded default ``file`` which appends each message to ``data_dir/outbox/<channel>.jsonl`` so a
laptop install works (and can be read) without any provider.
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from clinic_app import jobs
from clinic_app.errors import AppError
from clinic_app.settings import Settings, get_settings
from models import NOTIFICATION_CHANNELS, Notification
from models.base import utcnow

DELIVER_KIND = "notification.deliver"
WEBHOOK_TIMEOUT_SECONDS = 10


class ChannelError(Exception):
    """A channel could not deliver; the delivery job retries."""


@dataclass(frozen=True)
class OutgoingMessage:
    channel: str
    recipient: str
    subject: str
    body: str


class Channel(Protocol):
    def send(self, message: OutgoingMessage) -> None: ...


class FileChannel:
    """Embedded default: one JSON line per message under ``data_dir/outbox/``."""

    def __init__(self, settings: Settings) -> None:
        self._dir = settings.outbox_dir

    def send(self, message: OutgoingMessage) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {
                "at": utcnow().isoformat(),
                "channel": message.channel,
                "to": message.recipient,
                "subject": message.subject,
                "body": message.body,
            }
        )
        with (self._dir / f"{message.channel}.jsonl").open("a", encoding="utf-8") as out:
            out.write(line + "\n")


class SmtpChannel:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, message: OutgoingMessage) -> None:
        s = self._settings
        email = EmailMessage()
        email["From"] = s.smtp_from
        email["To"] = message.recipient
        email["Subject"] = message.subject
        email.set_content(message.body)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password)
                smtp.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"SMTP delivery failed: {exc}") from exc


class WebhookChannel:
    """SMS/WhatsApp through a gateway that accepts ``{channel, to, body}`` as JSON."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.sms_webhook_url

    def send(self, message: OutgoingMessage) -> None:
        payload = json.dumps(
            {"channel": message.channel, "to": message.recipient, "body": message.body}
        ).encode()
        request = urllib.request.Request(
            self._url, data=payload, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                if response.status >= 300:
                    raise ChannelError(f"gateway answered HTTP {response.status}")
        except OSError as exc:
            raise ChannelError(f"gateway unreachable: {exc}") from exc


def channel_for(name: str, settings: Settings | None = None) -> Channel:
    """The configured channel implementation for ``email``, ``sms`` or ``whatsapp``."""
    settings = settings or get_settings()
    if name == "email":
        return SmtpChannel(settings) if settings.email_backend == "smtp" else FileChannel(settings)
    if name in ("sms", "whatsapp"):
        return (
            WebhookChannel(settings) if settings.sms_backend == "webhook" else FileChannel(settings)
        )
    raise AppError("NOTIFICATION_CHANNEL", f"Unknown notification channel {name!r}.")


def queue_notification(
    session: Session,
    *,
    clinic_id: uuid.UUID | None,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    purpose: str,
    dedupe_key: str,
) -> Notification:
    """Queue one message (sent after the caller commits); an existing ``dedupe_key`` wins."""
    if channel not in NOTIFICATION_CHANNELS:
        raise AppError("NOTIFICATION_CHANNEL", f"Unknown notification channel {channel!r}.")
    recipient = recipient.strip()
    if not recipient:
        raise AppError("NOTIFICATION_RECIPIENT", "The message has no recipient.")
    existing = session.exec(
        select(Notification).where(Notification.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return existing
    notification = Notification(
        clinic_id=clinic_id,
        channel=channel,
        recipient=recipient[:254],
        subject=subject[:200],
        body=body[:4000],
        purpose=purpose[:40],
        dedupe_key=dedupe_key[:200],
    )
    try:
        with session.begin_nested():  # a concurrent twin loses here, not at the caller's commit
            session.add(notification)
    except IntegrityError:
        return session.exec(select(Notification).where(Notification.dedupe_key == dedupe_key)).one()
    jobs.enqueue(
        session,
        kind=DELIVER_KIND,
        clinic_id=clinic_id,
        created_by=None,
        params={"notification_id": str(notification.id)},
        entity_type="notification",
        entity_id=notification.id,
    )
    return notification


def deliver(session: Session, *, notification_id: uuid.UUID, final_attempt: bool) -> str:
    """Send one queued message once; returns its status. Raises ChannelError to retry."""
    notification = session.get(Notification, notification_id)
    if notification is None:
        raise AppError("NOT_FOUND", "The notification no longer exists.")
    if notification.status == "sent":
        return "sent"
    notification.attempts += 1
    message = OutgoingMessage(
        channel=notification.channel,
        recipient=notification.recipient,
        subject=notification.subject,
        body=notification.body,
    )
    try:
        channel_for(notification.channel).send(message)
    except ChannelError as exc:
        notification.last_error = str(exc)[:500]
        notification.status = "failed" if final_attempt else "pending"
        session.add(notification)
        raise
    notification.status = "sent"
    notification.sent_at = utcnow()
    notification.last_error = None
    session.add(notification)
    return "sent"
