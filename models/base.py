"""Column helpers shared by every table: UUID keys, UTC times, JSON that is JSONB on Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
UTCDateTime = sa.DateTime(timezone=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def check_in(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    """A CHECK that ``column`` holds one of ``values`` (the status columns' invariant)."""
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


def json_field(default_factory: Any = dict, nullable: bool = False) -> Any:
    return Field(default_factory=default_factory, sa_type=JSONType, nullable=nullable)


class Editable(SQLModel):
    """Audit columns, optimistic-concurrency version and soft delete for editable rows."""

    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    created_by: uuid.UUID | None = Field(default=None)
    updated_by: uuid.UUID | None = Field(default=None)
    version: int = Field(default=1, nullable=False)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
