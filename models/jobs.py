"""Background job rows: the UI reads status and progress here, workers write them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, json_field, new_id, utcnow

JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in JOB_STATUSES) + ")",
            name="ck_jobs_status",
        ),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name="ck_jobs_progress"),
        sa.Index("ix_jobs_status_heartbeat", "status", "heartbeat_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID | None = Field(default=None, foreign_key="clinics.id", index=True)
    kind: str = Field(max_length=60)
    status: str = Field(default="queued", max_length=20)
    progress: int = Field(default=0)
    message: str | None = Field(default=None, max_length=200)
    attempts: int = Field(default=0)
    max_attempts: int = Field(default=3)
    params: dict[str, Any] = json_field()
    result: dict[str, Any] = json_field()
    error: str | None = Field(default=None)
    entity_type: str | None = Field(default=None, max_length=60)
    entity_id: str | None = Field(default=None, max_length=64, index=True)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    correlation_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    enqueued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
