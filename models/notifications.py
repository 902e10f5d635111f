"""Notification outbox: every message to a patient or user is a row first, then delivered."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id, utcnow

NOTIFICATION_STATUSES = ("pending", "sent", "failed")
NOTIFICATION_CHANNELS = ("email", "sms", "whatsapp")


class Notification(SQLModel, table=True):
    """One message. ``dedupe_key`` is unique: the same reminder or code is never queued twice."""

    __tablename__ = "notifications"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID | None = Field(default=None, foreign_key="clinics.id", index=True)
    channel: str = Field(max_length=16)
    recipient: str = Field(max_length=254)
    subject: str = Field(default="", max_length=200)
    body: str = Field(max_length=4000)
    purpose: str = Field(max_length=40, index=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
