"""Metadata of stored objects; the bytes live in Storage (local directory or S3)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id, utcnow


class StoredFile(SQLModel, table=True):
    __tablename__ = "files"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    storage_key: str = Field(max_length=400, unique=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=120)
    size: int
    sha256: str = Field(max_length=64)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Upload(SQLModel, table=True):
    """A chunked, resumable upload in progress: chunks land in Storage, then are verified."""

    __tablename__ = "uploads"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    created_by: uuid.UUID = Field(foreign_key="users.id")
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=120)
    total_size: int
    sha256: str = Field(max_length=64)
    chunk_size: int
    status: str = Field(default="open", max_length=12)  # open | complete
    file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UploadChunk(SQLModel, table=True):
    __tablename__ = "upload_chunks"
    __table_args__ = (sa.UniqueConstraint("upload_id", "index", name="uq_upload_chunks_index"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    upload_id: uuid.UUID = Field(foreign_key="uploads.id", index=True)
    index: int
    size: int
    sha256: str = Field(max_length=64)


class PatientFile(SQLModel, table=True):
    """A file on a patient's chart (attachment), with its preview image when one was made."""

    __tablename__ = "patient_files"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    clinic_id: uuid.UUID = Field(foreign_key="clinics.id", index=True)
    patient_id: uuid.UUID = Field(foreign_key="patients.id", index=True)
    file_id: uuid.UUID = Field(foreign_key="files.id")
    thumbnail_file_id: uuid.UUID | None = Field(default=None, foreign_key="files.id")
    encounter_id: uuid.UUID | None = Field(default=None, foreign_key="encounters.id")
    title: str = Field(max_length=255)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
