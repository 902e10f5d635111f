"""The blind index of patient data: keyed hashes of search terms, kept in step on every write.

Mapper events (installed on import) rewrite a patient's ``patient_search_terms`` rows whenever
the patient row is inserted or updated, whoever writes it (services, demo data, migrations),
so search can never fall behind the encrypted columns.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from clinic_app.security import pii
from models import Patient, PatientSearchTerm
from models.base import new_id

MIN_PREFIX = 2


def search_terms(patient: Patient) -> set[tuple[str, str]]:
    """(kind, normalised value) pairs for one patient."""
    terms: set[tuple[str, str]] = set()
    for token in pii.name_tokens(f"{patient.given_name or ''} {patient.family_name or ''}"):
        terms.add(("name", token))
        for end in range(MIN_PREFIX, len(token)):
            terms.add(("name_prefix", token[:end]))
    for phone in (patient.phone, patient.phone_alt):
        digits = pii.phone_digits(phone or "")
        if len(digits) >= pii.PHONE_TAIL:
            terms.add(("phone", digits[-pii.PHONE_TAIL :]))
    if patient.email:
        terms.add(("email", patient.email.strip().lower()))
    number = "".join(ch for ch in (patient.mrn or "").rsplit("-", 1)[-1] if ch.isdigit())
    if number:
        terms.add(("mrn", str(int(number))))  # "PAT-2026-00042" is found by "42" or "00042"
    if patient.birth_date:
        terms.add(("dob", patient.birth_date.isoformat()))
    return terms


def _stamp_key(_mapper: Any, _connection: sa.Connection, target: Patient) -> None:
    target.pii_key_id = pii.key_ring().current


def _reindex(_mapper: Any, connection: sa.Connection, target: Patient) -> None:
    table = PatientSearchTerm.__table__  # type: ignore[attr-defined]
    connection.execute(sa.delete(table).where(table.c.patient_id == target.id))
    rows = [
        {
            "id": new_id(),
            "clinic_id": target.clinic_id,
            "patient_id": target.id,
            "kind": kind,
            "term_hash": pii.blind(kind, value),
        }
        for kind, value in sorted(search_terms(target))
    ]
    if rows:
        connection.execute(sa.insert(table), rows)


def install() -> None:
    if not sa.event.contains(Patient, "after_insert", _reindex):
        sa.event.listen(Patient, "before_insert", _stamp_key)
        sa.event.listen(Patient, "before_update", _stamp_key)
        sa.event.listen(Patient, "after_insert", _reindex)
        sa.event.listen(Patient, "after_update", _reindex)


install()
