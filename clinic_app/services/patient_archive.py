"""Patient data export: one ZIP with everything the clinic holds on one patient.

Contents: ``record.json`` (demographics and appointments, machine-readable, UTC times),
``summary.docx`` (the human-readable summary), ``files/`` (documents stored for the patient,
e.g. earlier exports) and ``manifest.json`` listing every member with its SHA-256. Built by an
RQ job with progress; requesting it is audited, like every PHI export. Later features add their
records (signed reports, drawings, prescriptions) by adding members here.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from clinic_app.security.actor import Actor
from clinic_app.services.patient_summary import (
    PATIENT_SUMMARY_KIND,
    PatientSummary,
    load_patient_summary,
    render_patient_summary_docx,
    request_patient_export,
)
from clinic_app.storage import get_storage
from models import Job, StoredFile

PATIENT_ARCHIVE_KIND = "patient_archive_zip"
ZIP_CONTENT_TYPE = "application/zip"
FORMAT = "clinic-patient-export/1"


def request_patient_archive(session: Session, *, actor: Actor, patient_id: uuid.UUID | str) -> Job:
    """Queue the ZIP export of one patient of the actor's clinic; returns the job to watch."""
    return request_patient_export(
        session,
        actor=actor,
        patient_id=patient_id,
        kind=PATIENT_ARCHIVE_KIND,
        audit_action="patient.export_archive",
    )


def _record(summary: PatientSummary) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "clinic": summary.clinic_name,
        "patient": {
            "id": str(summary.patient_id),
            "mrn": summary.mrn,
            "name": summary.full_name,
            "birth_date": summary.birth_date.isoformat() if summary.birth_date else None,
            "sex": summary.sex,
            "phone": summary.phone,
            "email": summary.email,
        },
        "appointments": [
            {
                "starts_at": line.starts_at.astimezone(UTC).isoformat(),
                "provider": line.provider,
                "visit_type": line.visit_type,
                "status": line.status,
            }
            for line in summary.appointments
        ],
    }


def patient_files(
    session: Session, *, clinic_id: uuid.UUID, patient_id: uuid.UUID
) -> list[StoredFile]:
    """Documents stored for the patient: the files produced by the patient's finished jobs."""
    file_ids = []
    for job in session.exec(
        select(Job).where(
            Job.clinic_id == clinic_id,
            Job.entity_type == "patient",
            Job.entity_id == str(patient_id),
            Job.status == "succeeded",
            Job.kind == PATIENT_SUMMARY_KIND,
        )
    ).all():
        try:
            file_ids.append(uuid.UUID(str((job.result or {}).get("file_id"))))
        except ValueError:
            continue
    if not file_ids:
        return []
    return list(
        session.exec(
            select(StoredFile)
            .where(
                StoredFile.clinic_id == clinic_id,
                col(StoredFile.id).in_(file_ids),
                col(StoredFile.deleted_at).is_(None),
            )
            .order_by(col(StoredFile.created_at))
        ).all()
    )


def build_patient_archive(
    session: Session, *, clinic_id: uuid.UUID, patient_id: uuid.UUID | str
) -> tuple[str, bytes]:
    """The ZIP's file name and bytes (everything read in the caller's transaction)."""
    summary = load_patient_summary(session, clinic_id=clinic_id, patient_id=patient_id)
    members: list[tuple[str, bytes]] = [
        ("record.json", json.dumps(_record(summary), indent=2, ensure_ascii=False).encode()),
        ("summary.docx", render_patient_summary_docx(summary)),
    ]
    storage = get_storage()
    for index, stored in enumerate(
        patient_files(session, clinic_id=clinic_id, patient_id=summary.patient_id), start=1
    ):
        members.append((f"files/{index:03d}-{stored.filename}", storage.get(stored.storage_key)))
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "members": [
            {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in members
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    return f"patient-export-{summary.mrn}.zip", buffer.getvalue()
