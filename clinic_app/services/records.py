"""Drawing-annotated medical records: create on a background, autosave, sign, amend, export.

A record is a drawing (``drawing_data``, validated by ``clinic_app.services.drawing``) on a
body chart, a chart image or a PDF page, plus the answers of a form template
(``form_data``). The editor autosaves every few seconds with the record's ``version``: a save
from a stale tab gets ``VERSION_CONFLICT`` with the other version, so the user can pick.
Signing (after a fresh step-up) freezes the record; a correction is an amendment.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image
from sqlmodel import Session, col, select

from clinic_app import audit, jobs
from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.security import sessions
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services import drawing
from clinic_app.services.numbering import next_number
from clinic_app.services.patients import load_patient
from clinic_app.settings import PROJECT_ROOT, get_settings
from clinic_app.storage import get_storage, save_file
from models import (
    FORM_FIELD_TYPES,
    Encounter,
    FormTemplate,
    MedicalRecord,
    Patient,
    PatientFile,
    RecordFile,
    StoredFile,
)
from models.base import utcnow

EXPORT_KIND = "record_export"
BODY_CHARTS = PROJECT_ROOT / "assets" / "body_charts"
MAX_STAGE_SIDE = 1000  # an uploaded photo is shown at most this wide or high
_FIELD_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
VITALS = ("systolic", "diastolic", "heart_rate", "temperature_c", "spo2")

BUILTIN_FORMS: dict[str, dict[str, Any]] = {
    "wound": {
        "name": "Wound assessment",
        "fields": [
            {"id": "site", "label": "Site", "type": "text", "required": True},
            {"id": "length", "label": "Length", "type": "number", "unit": "cm"},
            {"id": "width", "label": "Width", "type": "number", "unit": "cm"},
            {
                "id": "exudate",
                "label": "Exudate",
                "type": "select",
                "options": ["none", "low", "moderate", "high"],
            },
            {"id": "infection", "label": "Signs of infection", "type": "checkbox"},
            {"id": "notes", "label": "Notes", "type": "long_text"},
        ],
    },
    "exam": {
        "name": "Examination and vitals",
        "fields": [
            {"id": "vitals", "label": "Vital signs", "type": "vitals"},
            {"id": "findings", "label": "Findings", "type": "long_text", "required": True},
            {"id": "pain", "label": "Pain (0–10)", "type": "number", "unit": "/10"},
            {"id": "review_date", "label": "Review on", "type": "date"},
        ],
    },
}


# ---- body charts -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def body_charts() -> dict[str, dict[str, Any]]:
    """Built-in backgrounds (``assets/body_charts/templates.json``) by key."""
    data = json.loads((BODY_CHARTS / "templates.json").read_text())
    return {item["key"]: item for item in data}


def chart_image(key: str) -> Image.Image:
    item = body_charts().get(key)
    if item is None:
        raise NotFound("Body chart")
    return Image.open(BODY_CHARTS / item["file"]).convert("RGB")


# ---- form templates ----------------------------------------------------------------------------


def validate_fields(fields: Any) -> list[dict[str, Any]]:
    """Form fields as data; FORM_INVALID naming every problem."""
    if not isinstance(fields, list) or not fields:
        raise AppError("FORM_INVALID", "A form needs at least one field.")
    problems, seen, clean = [], set(), []
    for n, item in enumerate(fields, 1):
        if not isinstance(item, dict):
            problems.append(f"Field {n} is not an object")
            continue
        fid, label, kind = (
            str(item.get("id", "")),
            str(item.get("label", "")).strip(),
            item.get("type"),
        )
        if not _FIELD_ID.match(fid) or fid in seen:
            problems.append(f"Field {n}: id '{fid}' must be unique lower-case letters, digits or _")
        seen.add(fid)
        if not label or len(label) > 120:
            problems.append(f"Field {n}: a label of 1–120 characters is needed")
        if kind not in FORM_FIELD_TYPES:
            problems.append(f"Field {n}: type must be one of {', '.join(FORM_FIELD_TYPES)}")
        options = [str(o)[:80] for o in item.get("options") or []]
        if kind == "select" and not options:
            problems.append(f"Field {n}: a select needs options")
        clean.append(
            {
                "id": fid,
                "label": label,
                "type": kind,
                "unit": str(item.get("unit", ""))[:20],
                "options": options,
                "required": bool(item.get("required", False)),
            }
        )
    if len(clean) > 60:
        problems.append("A form has at most 60 fields")
    if problems:
        raise AppError("FORM_INVALID", "; ".join(problems[:6]) + ".", {"problems": problems})
    return clean


def validate_answers(fields: list[dict[str, Any]], answers: Any) -> dict[str, Any]:
    """Answers checked against the form version used; FORM_ANSWERS_INVALID with the reasons.
    Empty answers are allowed while drafting; ``required`` is enforced when signing."""
    if not isinstance(answers, dict):
        raise AppError("FORM_ANSWERS_INVALID", "The form answers are not an object.")
    by_id = {f["id"]: f for f in fields}
    unknown = [k for k in answers if k not in by_id]
    problems = [f"'{k}' is not a field of this form" for k in unknown]
    clean: dict[str, Any] = {}
    for fid, value in answers.items():
        field = by_id.get(fid)
        if field is None or value in (None, ""):
            continue
        kind, label = field["type"], field["label"]
        if kind in ("text", "long_text"):
            clean[fid] = str(value)[: 200 if kind == "text" else 5000]
        elif kind == "number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                problems.append(f"{label}: a number is needed")
                continue
            if not -1e6 < number < 1e6:
                problems.append(f"{label}: out of range")
                continue
            clean[fid] = number
        elif kind == "checkbox":
            clean[fid] = bool(value)
        elif kind == "select":
            if str(value) not in field["options"]:
                problems.append(f"{label}: choose one of {', '.join(field['options'])}")
                continue
            clean[fid] = str(value)
        elif kind == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
                problems.append(f"{label}: a date like 2026-12-01 is needed")
                continue
            clean[fid] = str(value)
        elif kind == "vitals":
            if not isinstance(value, dict):
                problems.append(f"{label}: vital signs are a group of numbers")
                continue
            group = {}
            for key, number in value.items():
                if key not in VITALS or number in (None, ""):
                    continue
                try:
                    group[key] = float(number)
                except (TypeError, ValueError):
                    problems.append(f"{label} {key}: a number is needed")
            clean[fid] = group
    if problems:
        raise AppError(
            "FORM_ANSWERS_INVALID", "; ".join(problems[:6]) + ".", {"problems": problems}
        )
    return clean


def missing_required(fields: list[dict[str, Any]], answers: dict[str, Any]) -> list[str]:
    return [
        f["label"] for f in fields if f.get("required") and answers.get(f["id"]) in (None, "", {})
    ]


def ensure_builtin_forms(session: Session, *, clinic_id: uuid.UUID) -> None:
    present = set(
        session.exec(
            select(FormTemplate.builtin_key).where(
                FormTemplate.clinic_id == clinic_id, col(FormTemplate.builtin_key).is_not(None)
            )
        ).all()
    )
    for key, data in BUILTIN_FORMS.items():
        if key not in present:
            row_id = uuid.uuid4()
            session.add(
                FormTemplate(
                    id=row_id,
                    family_id=row_id,
                    clinic_id=clinic_id,
                    builtin_key=key,
                    name=data["name"],
                    fields=validate_fields(data["fields"]),
                )
            )
    session.flush()


def list_forms(session: Session, *, actor: Actor) -> list[dict[str, Any]]:
    require(actor, "record:read")
    ensure_builtin_forms(session, clinic_id=actor.clinic_id)
    rows = session.exec(
        select(FormTemplate)
        .where(FormTemplate.clinic_id == actor.clinic_id, col(FormTemplate.is_active).is_(True))
        .order_by(col(FormTemplate.name))
    ).all()
    return [
        {"id": str(r.id), "name": r.name, "version": r.template_version, "fields": r.fields}
        for r in rows
    ]


def save_form(
    session: Session, *, actor: Actor, name: str, fields: Any, template_id: str | None = None
) -> FormTemplate:
    """A new form, or a new version of one (the old version stays for the records using it)."""
    require(actor, "form_template:manage")
    if not name.strip() or len(name.strip()) > 120:
        raise AppError("FORM_INVALID", "A form name of 1–120 characters is needed.")
    clean = validate_fields(fields)
    if template_id:
        old = _form(session, actor, template_id)
        old.is_active = False
        session.add(old)
        row = FormTemplate(
            clinic_id=actor.clinic_id,
            family_id=old.family_id,
            builtin_key=old.builtin_key,
            name=name.strip(),
            fields=clean,
            template_version=old.template_version + 1,
            parent_id=old.id,
            created_by=actor.user_id,
        )
    else:
        row_id = uuid.uuid4()
        row = FormTemplate(
            id=row_id,
            family_id=row_id,
            clinic_id=actor.clinic_id,
            name=name.strip(),
            fields=clean,
            created_by=actor.user_id,
        )
    session.add(row)
    session.flush()
    audit.record_by(
        session,
        actor,
        "form_template.save",
        entity_type="form_template",
        entity_id=row.id,
        after={"name": row.name, "version": row.template_version},
    )
    return row


def _form(session: Session, actor: Actor, template_id: str | uuid.UUID) -> FormTemplate:
    row = session.exec(
        select(FormTemplate).where(
            FormTemplate.id == parse_id(template_id, "Form"),
            FormTemplate.clinic_id == actor.clinic_id,
        )
    ).first()
    if row is None:
        raise NotFound("Form")
    return row


# ---- records -----------------------------------------------------------------------------------


def _load(
    session: Session, actor: Actor, record_id: str, *, for_update: bool = False
) -> MedicalRecord:
    require(actor, "record:write" if for_update else "record:read")
    row = session.exec(
        select(MedicalRecord).where(
            MedicalRecord.id == parse_id(record_id, "Record"),
            MedicalRecord.clinic_id == actor.clinic_id,
        )
    ).first()
    if row is None:
        raise NotFound("Record")
    if for_update and row.author_user_id != actor.user_id:
        raise AppError(
            "FORBIDDEN", "Only the author edits a draft record; others can amend it once signed."
        )
    return row


def _fit(width: int, height: int) -> dict[str, int]:
    scale = min(1.0, MAX_STAGE_SIDE / max(width, height))
    return {"width": max(50, round(width * scale)), "height": max(50, round(height * scale))}


def _pdf_page(
    session: Session, actor: Actor, source: StoredFile, page: int
) -> tuple[StoredFile, int]:
    """The PDF page as a PNG file (rendered once per file and page, then reused) and the count."""
    import pypdfium2 as pdfium

    data = get_storage().get(source.storage_key)
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        raise AppError("BACKGROUND_UNREADABLE", "That PDF could not be opened.") from None
    count = len(pdf)
    if not 1 <= page <= count:
        raise AppError("VALIDATION", f"The PDF has {count} page(s); pick 1 to {count}.")
    cache_id = uuid.uuid5(source.id, f"page-{page}")
    cached = session.get(StoredFile, cache_id)
    if cached is None:
        bitmap = pdf[page - 1].render(scale=1.5).to_pil().convert("RGB")
        out = io.BytesIO()
        bitmap.save(out, format="PNG")
        cached = save_file(
            session,
            clinic_id=actor.clinic_id,
            data=out.getvalue(),
            filename=f"{Path(source.filename).stem}-page-{page}.png",
            content_type="image/png",
            created_by=actor.user_id,
            key_prefix="record-pages",
            file_id=cache_id,
        )
    return cached, count


def _background(
    session: Session, actor: Actor, patient: Patient, background: str, page: int
) -> tuple[dict[str, Any], StoredFile | None]:
    """(drawing fields for the background, the stored file to link) from ``template:<key>``,
    ``file:<chart file id>`` or ``none``."""
    kind, _, ref = background.partition(":")
    if kind == "template":
        item = body_charts().get(ref)
        if item is None:
            raise NotFound("Body chart")
        size = {"width": int(item["width"]), "height": int(item["height"])}
        return drawing.empty_drawing(size["width"], size["height"], "template", ref), None
    if kind == "file":
        link = session.exec(
            select(PatientFile).where(
                PatientFile.id == parse_id(ref, "File"),
                PatientFile.patient_id == patient.id,
                PatientFile.clinic_id == actor.clinic_id,
                col(PatientFile.deleted_at).is_(None),
            )
        ).first()
        stored = session.get(StoredFile, link.file_id) if link else None
        if stored is None:
            raise NotFound("File")
        if stored.content_type == "application/pdf":
            rendered, count = _pdf_page(session, actor, stored, page)
            with Image.open(io.BytesIO(get_storage().get(rendered.storage_key))) as img:
                size = _fit(*img.size)
            data = drawing.empty_drawing(size["width"], size["height"], "pdf", str(rendered.id))
            data["pdfPageNumber"], data["pdfNumPages"] = page, count
            return data, rendered
        if stored.content_type.startswith("image/"):
            try:
                with Image.open(io.BytesIO(get_storage().get(stored.storage_key))) as img:
                    size = _fit(*img.size)
            except OSError:
                raise AppError("BACKGROUND_UNREADABLE", "That image could not be opened.") from None
            return drawing.empty_drawing(
                size["width"], size["height"], "image", str(stored.id)
            ), stored
        raise AppError("VALIDATION", "Draw on an image or a PDF; this file is neither.")
    return drawing.empty_drawing(800, 600), None


def create(
    session: Session,
    *,
    actor: Actor,
    patient_id: str,
    background: str = "template:body_front",
    pdf_page: int = 1,
    form_template_id: str | None = None,
    encounter_id: str | None = None,
    title: str = "",
) -> MedicalRecord:
    require(actor, "record:write")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    encounter = None
    if encounter_id:
        encounter = session.exec(
            select(Encounter).where(
                Encounter.id == parse_id(encounter_id, "Encounter"),
                Encounter.patient_id == patient.id,
            )
        ).first()
        if encounter is None:
            raise NotFound("Encounter")
    data, stored = _background(session, actor, patient, background, int(pdf_page or 1))
    form = _form(session, actor, form_template_id) if form_template_id else None
    year = utcnow().year
    row = MedicalRecord(
        clinic_id=actor.clinic_id,
        number=next_number(
            session,
            column=MedicalRecord.number,
            clinic_column=MedicalRecord.clinic_id,
            clinic_id=actor.clinic_id,
            prefix=f"REC-{year}-",
            digits=5,
        ),
        patient_id=patient.id,
        encounter_id=encounter.id if encounter else None,
        appointment_id=encounter.appointment_id if encounter else None,
        author_user_id=actor.user_id,
        title=(title.strip() or _title(data))[:120],
        drawing_data=data,
        form_template_id=form.id if form else None,
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    if stored is not None:
        session.add(
            RecordFile(
                clinic_id=actor.clinic_id,
                record_id=row.id,
                file_id=stored.id,
                role="background",
                page=data.get("pdfPageNumber"),
            )
        )
    if form is not None:
        form.usage_count += 1
        session.add(form)
    audit.record_by(
        session,
        actor,
        "record.create",
        entity_type="medical_record",
        entity_id=row.id,
        after={"number": row.number, "background": data["backgroundType"]},
    )
    return row


def _title(data: dict[str, Any]) -> str:
    if data["backgroundType"] == "template":
        return str(body_charts()[data["backgroundFileId"]]["title"])
    return {"image": "Annotated image", "pdf": "Annotated document"}.get(
        data["backgroundType"], "Drawing"
    )


def _server_owned(row: MedicalRecord) -> dict[str, Any]:
    """What the browser may not change in a save: the background and the stage."""
    keys = ("stageSize", "backgroundType", "backgroundFileId", "pdfPageNumber", "pdfNumPages")
    return {k: row.drawing_data.get(k) for k in keys}


def save_draft(
    session: Session,
    *,
    actor: Actor,
    record_id: str,
    version: int,
    drawing_data: Any = None,
    form_data: Any = None,
    force: bool = False,
) -> MedicalRecord:
    """An autosave. ``force`` (the user chose "keep mine" after a conflict) saves over the
    newer version; otherwise a stale version gets VERSION_CONFLICT with the newer content."""
    row = _load(session, actor, record_id, for_update=True)
    if row.status != "draft":
        raise AppError("RECORD_SIGNED", "This record is signed; amend it to change it.")
    if row.version != int(version) and not force:
        raise AppError(
            "VERSION_CONFLICT",
            "This record was saved from another tab or device meanwhile.",
            {
                "theirs": {
                    "version": row.version,
                    "drawing": row.drawing_data,
                    "form": row.form_data,
                    "saved_at": row.updated_at.isoformat(),
                }
            },
        )
    max_bytes = get_settings().drawing_max_kb * 1024
    if drawing_data is not None:
        incoming = json.loads(drawing_data) if isinstance(drawing_data, str) else drawing_data
        if not isinstance(incoming, dict):
            raise AppError("DRAWING_INVALID", "The drawing is not a JSON object.")
        row.drawing_data = drawing.validate_drawing(
            {**incoming, **_server_owned(row)}, max_bytes=max_bytes
        )
    if form_data is not None:
        form = session.get(FormTemplate, row.form_template_id) if row.form_template_id else None
        if form is None:
            raise AppError("VALIDATION", "This record has no form.")
        row.form_data = validate_answers(form.fields, form_data)
    row.version += 1
    row.updated_at, row.updated_by = utcnow(), actor.user_id
    session.add(row)
    audit.record_by(
        session,
        actor,
        "record.save",
        entity_type="medical_record",
        entity_id=row.id,
        after={
            "version": row.version,
            "lines": len(row.drawing_data.get("lines", [])),
            "shapes": len(row.drawing_data.get("shapes", [])),
        },
    )
    return row


def canonical(row: MedicalRecord) -> bytes:
    body = {
        "number": row.number,
        "version_number": row.version_number,
        "patient_id": str(row.patient_id),
        "drawing": row.drawing_data,
        "form": row.form_data,
        "form_template_id": str(row.form_template_id or ""),
        "title": row.title,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(session: Session, *, actor: Actor, record_id: str, version: int) -> str:
    require(actor, "record:sign")
    row = _load(session, actor, record_id, for_update=True)
    if row.status == "signed" and row.content_hash:
        return row.content_hash
    if row.version != int(version):
        raise AppError("VERSION_CONFLICT", "The record changed since you looked; check it again.")
    form = session.get(FormTemplate, row.form_template_id) if row.form_template_id else None
    missing = missing_required(form.fields, row.form_data) if form else []
    if missing:
        raise AppError("VALIDATION", "Fill the required fields first: " + ", ".join(missing) + ".")
    sessions.require_recent_step_up(session, session_id=actor.session_id)
    row.status, row.signed_at, row.signed_by = "signed", utcnow(), actor.user_id
    row.content_hash = hashlib.sha256(canonical(row)).hexdigest()
    row.version += 1
    session.add(row)
    if row.amends_id:
        original = session.get(MedicalRecord, row.amends_id)
        if original is not None:
            original.amended_by_id = row.id
            session.add(original)
    enqueue_export(session, actor=actor, row=row)
    audit.record_by(
        session,
        actor,
        "record.sign",
        entity_type="medical_record",
        entity_id=row.id,
        after={"hash": row.content_hash},
    )
    return row.content_hash


def amend(session: Session, *, actor: Actor, record_id: str) -> MedicalRecord:
    """A new draft copying a signed record (the original stays as signed, linked both ways)."""
    require(actor, "record:write")
    original = _load(session, actor, record_id)
    if original.status != "signed":
        raise AppError("RECORD_NOT_SIGNED", "Only a signed record is amended; edit the draft.")
    if original.amended_by_id is not None:
        raise AppError("RECORD_AMENDED", "This record already has an amendment; amend that one.")
    pending = session.exec(
        select(MedicalRecord).where(
            MedicalRecord.amends_id == original.id, MedicalRecord.status == "draft"
        )
    ).first()
    if pending is not None:
        return pending
    row = MedicalRecord(
        clinic_id=original.clinic_id,
        number=original.number,
        version_number=original.version_number + 1,
        patient_id=original.patient_id,
        encounter_id=original.encounter_id,
        appointment_id=original.appointment_id,
        author_user_id=actor.user_id,
        title=original.title,
        drawing_data=original.drawing_data,
        form_template_id=original.form_template_id,
        form_data=original.form_data,
        amends_id=original.id,
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    for link in session.exec(
        select(RecordFile).where(
            RecordFile.record_id == original.id, RecordFile.role == "background"
        )
    ).all():
        session.add(
            RecordFile(
                clinic_id=link.clinic_id,
                record_id=row.id,
                file_id=link.file_id,
                role="background",
                page=link.page,
            )
        )
    audit.record_by(
        session,
        actor,
        "record.amend",
        entity_type="medical_record",
        entity_id=row.id,
        after={"amends": str(original.id)},
    )
    return row


def enqueue_export(session: Session, *, actor: Actor, row: MedicalRecord) -> str:
    job = jobs.enqueue(
        session,
        kind=EXPORT_KIND,
        clinic_id=row.clinic_id,
        created_by=actor.user_id,
        params={"record_id": str(row.id)},
        entity_type="medical_record",
        entity_id=row.id,
    )
    return str(job.id)


def export(session: Session, *, actor: Actor, record_id: str) -> str:
    """Queue the PNG, thumbnail and DOCX of a record (drafts too: a printout marked draft)."""
    row = _load(session, actor, record_id)
    job_id = enqueue_export(session, actor=actor, row=row)
    audit.record_by(session, actor, "record.export", entity_type="medical_record", entity_id=row.id)
    return job_id


# ---- reading -----------------------------------------------------------------------------------


def background_image(session: Session, row: MedicalRecord) -> Image.Image | None:
    """The background as the server renders it (export, thumbnails)."""
    data = row.drawing_data
    kind, ref = data.get("backgroundType"), data.get("backgroundFileId")
    if kind == "template" and ref:
        return chart_image(str(ref))
    if kind in ("image", "pdf") and ref:
        stored = session.get(StoredFile, uuid.UUID(str(ref)))
        if stored is None:
            return None
        return Image.open(io.BytesIO(get_storage().get(stored.storage_key))).convert("RGB")
    return None


def background_url(session: Session, *, actor: Actor, row: MedicalRecord) -> str:
    """Body charts are public assets; chart files get a short-lived link."""
    from clinic_app.api.downloads import make_download_url

    data = row.drawing_data
    kind, ref = data.get("backgroundType"), data.get("backgroundFileId")
    if kind == "template" and ref:
        return f"/body_charts/{body_charts()[str(ref)]['file']}"
    if kind in ("image", "pdf") and ref:
        stored = session.get(StoredFile, uuid.UUID(str(ref)))
        if stored is not None and stored.clinic_id == actor.clinic_id:
            return make_download_url(stored, user_id=actor.user_id)
    return ""


def view(
    session: Session, *, actor: Actor, record_id: str, audit_read: bool = True
) -> dict[str, Any]:
    row = _load(session, actor, record_id)
    if audit_read:
        audit.record_by(
            session, actor, "record.view", entity_type="medical_record", entity_id=row.id
        )
    form = session.get(FormTemplate, row.form_template_id) if row.form_template_id else None
    patient = session.get(Patient, row.patient_id)
    return {
        "id": str(row.id),
        "number": row.number,
        "version_number": row.version_number,
        "version": row.version,
        "status": row.status,
        "title": row.title,
        "drawing": json.dumps(row.drawing_data),
        "form_data": row.form_data,
        "form_fields": form.fields if form else [],
        "form_name": form.name if form else "",
        "form_version": form.template_version if form else 0,
        "background_url": background_url(session, actor=actor, row=row),
        "patient_id": str(row.patient_id),
        "patient_name": patient.display_name if patient else "",
        "mine": row.author_user_id == actor.user_id,
        "signed_at": row.signed_at.strftime("%Y-%m-%d %H:%M UTC") if row.signed_at else "",
        "content_hash": row.content_hash or "",
        "amends_id": str(row.amends_id or ""),
        "amended_by_id": str(row.amended_by_id or ""),
        "has_docx": bool(row.docx_file_id),
        "has_image": bool(row.image_file_id),
    }


def for_patient(session: Session, *, actor: Actor, patient_id: str) -> list[dict[str, str]]:
    require(actor, "record:read")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    rows = session.exec(
        select(MedicalRecord)
        .where(MedicalRecord.patient_id == patient.id)
        .order_by(col(MedicalRecord.updated_at).desc())
    ).all()
    return [
        {
            "id": str(r.id),
            "number": f"{r.number} v{r.version_number}",
            "title": r.title,
            "status": r.status,
            "updated": r.updated_at.strftime("%Y-%m-%d %H:%M"),
            "thumbnail": file_url(session, actor=actor, file_id=r.thumbnail_file_id),
        }
        for r in rows
    ]


def file_url(session: Session, *, actor: Actor, file_id: uuid.UUID | None) -> str:
    from clinic_app.api.downloads import make_download_url

    stored = session.get(StoredFile, file_id) if file_id else None
    if stored is None or stored.clinic_id != actor.clinic_id:
        return ""
    return make_download_url(stored, user_id=actor.user_id)


def document_link(session: Session, *, actor: Actor, record_id: str, kind: str) -> str:
    row = _load(session, actor, record_id)
    url = file_url(
        session, actor=actor, file_id=row.docx_file_id if kind == "docx" else row.image_file_id
    )
    if not url:
        raise AppError(
            "DOCUMENT_NOT_READY", "The export is still being prepared; try again shortly."
        )
    return url


def with_shape(session: Session, *, actor: Actor, shape_type: str) -> list[str]:
    """Numbers of the clinic's records holding a shape of ``shape_type`` (GIN-indexed JSONB
    containment on PostgreSQL)."""
    require(actor, "record:read")
    base = select(MedicalRecord.number).where(MedicalRecord.clinic_id == actor.clinic_id)
    if session.get_bind().dialect.name == "postgresql":
        import sqlalchemy as sa

        query = base.where(
            sa.text("drawing_data -> 'shapes' @> CAST(:probe AS jsonb)").bindparams(
                probe=json.dumps([{"type": shape_type}])
            )
        )
        return list(session.exec(query).all())
    rows = session.exec(
        select(MedicalRecord.number, MedicalRecord.drawing_data).where(
            MedicalRecord.clinic_id == actor.clinic_id
        )
    ).all()
    return [number for number, data in rows if drawing.has_shape(data, shape_type)]


def background_choices(session: Session, *, actor: Actor, patient_id: str) -> list[dict[str, str]]:
    """What a new drawing can go on: the body charts, then the patient's images and PDFs."""
    require(actor, "record:write")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    choices = [
        {"value": f"template:{key}", "label": item["title"], "kind": "Body chart"}
        for key, item in body_charts().items()
    ]
    rows = session.exec(
        select(PatientFile, StoredFile)
        .join(StoredFile, col(StoredFile.id) == col(PatientFile.file_id))
        .where(PatientFile.patient_id == patient.id, col(PatientFile.deleted_at).is_(None))
        .order_by(col(PatientFile.created_at).desc())
    ).all()
    for link, stored in rows:
        if stored.content_type == "application/pdf" or stored.content_type.startswith("image/"):
            kind = "PDF" if stored.content_type == "application/pdf" else "Image"
            choices.append(
                {"value": f"file:{link.id}", "label": link.title or stored.filename, "kind": kind}
            )
    choices.append({"value": "none", "label": "Blank page", "kind": "Blank"})
    return choices
