"""``clinic rekey``: re-encrypt patient data with the current key after a key rotation.

Rotation: put the new key first in ``CLINIC_PII_KEYS`` (keep the old ones after it), run
``clinic rekey``, then drop the old keys once it reports nothing left. Rows are read through the
ORM (decrypting with whichever key wrote them) and written back (encrypting with the current
key), in batches, each in its own transaction, so it can be stopped and run again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import attributes
from sqlmodel import Session, col, or_, select

from clinic_app.security import pii
from models import (
    AccessGrant,
    Allergy,
    Condition,
    Encounter,
    Patient,
    PatientMedication,
    Prescription,
    Study,
)

BATCH = 500
ENCRYPTED_FIELDS: dict[type, tuple[str, ...]] = {
    Patient: (
        "given_name",
        "family_name",
        "birth_date",
        "phone",
        "phone_alt",
        "email",
        "address",
        "emergency_contact",
        "insurance",
    ),
    Allergy: ("substance", "reaction"),
    Condition: ("name", "notes"),
    PatientMedication: ("name", "dosage"),
    Encounter: ("reason",),
    Study: ("title", "narrative", "findings"),
    Prescription: ("items", "diagnosis", "pharmacist_notes", "acknowledgements", "cancel_reason"),
    AccessGrant: ("reason",),
}


def rekey_patients(session_factory: Callable[[], AbstractContextManager[Session]]) -> int:
    """Re-encrypt every patient row not written with the current key; returns rows changed."""
    current = pii.key_ring().current
    changed = 0
    while True:
        with session_factory() as session:
            rows = session.exec(
                select(Patient)
                .where(or_(col(Patient.pii_key_id).is_(None), Patient.pii_key_id != current))
                .limit(BATCH)
            ).all()
            if not rows:
                return changed
            for patient in rows:
                for name in ENCRYPTED_FIELDS[Patient]:
                    attributes.flag_modified(patient, name)
                session.add(patient)
            changed += len(rows)


def rekey_chart(session: Session) -> int:
    """Re-encrypt the other tables (every row is rewritten).

    A signed prescription's content may only change together with its key id (the database
    trigger refuses anything else), so its ``pii_key_id`` moves to the current key here; the
    plaintext, and so its ``content_hash``, stay the same.
    """
    current = pii.key_ring().current
    changed = 0
    for model, fields in ENCRYPTED_FIELDS.items():
        if model is Patient:
            continue
        query: Any = select(model)
        if model is Prescription:  # rows carry their key id: only those on an older key
            query = query.where(
                or_(col(Prescription.pii_key_id).is_(None), Prescription.pii_key_id != current)
            )
        for row in session.exec(query).all():
            for name in fields:
                attributes.flag_modified(row, name)
            if isinstance(row, Prescription):
                row.pii_key_id = current
            session.add(row)
            changed += 1
    return changed
