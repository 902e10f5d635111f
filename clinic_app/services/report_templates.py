"""Report templates: the built-ins, validation, and versioned editing.

A template that reports already used is never changed in place: saving makes a new version
(same family, ``template_version`` + 1, ``parent_id`` the old row) and retires the old one,
so every signed report keeps naming the exact sections it was written against.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlmodel import Session, and_, col, or_, select

from clinic_app import audit
from clinic_app.ai.drafting import SECTION_TYPES, TemplateSection, leaf_sections
from clinic_app.errors import AppError, NotFound, parse_id
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from models import ReportTemplate
from models.base import utcnow
from models.reports import REPORT_TYPES

MAX_SECTIONS = 40
MAX_DEPTH = 2
_SECTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _s(sid: str, title: str, required: bool = False, kind: str = "text", prompt: str = "",
       subsections: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    return {"id": sid, "title": title, "required": required, "type": kind, "prompt": prompt,
            "subsections": subsections or []}  # fmt: skip


BUILTINS: dict[str, dict[str, Any]] = {
    "soap": {
        "name": "SOAP note",
        "report_type": "consultation",
        "description": "Subjective, objective, assessment and plan.",
        "prompt": "Write a concise SOAP note in clinical style from the consultation.",
        "sections": [
            _s(
                "subjective",
                "Subjective",
                True,
                prompt="Complaints with durations, history, "
                "current medicines and allergies as the patient reported them.",
            ),
            _s("objective", "Objective", False, prompt="Vital signs, examination and results."),
            _s("assessment", "Assessment", True, prompt="Diagnoses the doctor stated."),
            _s(
                "plan",
                "Plan",
                True,
                "list",
                "Medicines started or changed, tests ordered, follow-up.",
            ),
        ],
    },
    "general": {
        "name": "General consultation",
        "report_type": "consultation",
        "description": "Reason for visit, history, medicines, allergies, examination, plan.",
        "prompt": "Write a general consultation note.",
        "sections": [
            _s("reason", "Reason for visit", True, prompt="The presenting complaints."),
            _s("history", "History of present illness", False),
            _s("medications", "Current medications", False, "list"),
            _s("allergies", "Allergies", False, "list"),
            _s("examination", "Examination", False, prompt="Vital signs and findings."),
            _s("assessment", "Assessment", True),
            _s("plan", "Plan", True, "list"),
        ],
    },
    "followup": {
        "name": "Follow-up visit",
        "report_type": "followup",
        "description": "Progress since the last visit, current findings, changes to treatment.",
        "prompt": "Write a follow-up note.",
        "sections": [
            _s(
                "progress",
                "Interval history",
                True,
                prompt="How the patient has been since the last visit.",
            ),
            _s("medications", "Current medications", False, "list"),
            _s(
                "findings",
                "Findings",
                False,
                "structured",
                "Vital signs and examination.",
                [
                    _s("vitals", "Vital signs", False, "structured"),
                    _s("exam", "Examination", False),
                ],
            ),
            _s("assessment", "Assessment", False),
            _s("plan", "Plan", True, "list"),
        ],
    },
    "psychiatry_intake": {
        "name": "Psychiatry intake",
        "report_type": "consultation",
        "description": "Presenting problem, mood, sleep, risk, history, plan.",
        "prompt": "Write a psychiatric intake assessment.",
        "sections": [
            _s("presenting", "Presenting complaint", True),
            _s(
                "mood",
                "Mood and affect",
                False,
                prompt="How the patient describes their mood, feelings, energy and interest.",
            ),
            _s("sleep", "Sleep and appetite", False, prompt="Sleep, appetite, eating and weight."),
            _s(
                "risk",
                "Risk assessment",
                False,
                prompt="Thoughts of self-harm, suicide or harming others; safety.",
            ),
            _s(
                "social",
                "Social history",
                False,
                prompt="Work, family, relationships, alcohol, drugs and smoking.",
            ),
            _s("medications", "Current medications", False, "list"),
            _s("assessment", "Formulation", True),
            _s("plan", "Plan", True, "list"),
        ],
    },
    "referral": {
        "name": "Referral letter",
        "report_type": "referral",
        "description": "Reason for referral, history, medicines, allergies, the request.",
        "prompt": "Write a referral letter to a colleague.",
        "sections": [
            _s("reason", "Reason for referral", True),
            _s("history", "Relevant history", False),
            _s("medications", "Current medications", False, "list"),
            _s("allergies", "Allergies", False, "list"),
            _s(
                "request",
                "Request",
                True,
                prompt="What the referring doctor asks for: tests, treatment, follow-up.",
            ),
        ],
    },
}


def parse_sections(sections: Any) -> list[TemplateSection]:
    """Validated sections, or TEMPLATE_INVALID naming every problem found."""
    problems: list[str] = []
    seen: set[str] = set()

    def walk(items: Any, depth: int, where: str) -> None:
        if not isinstance(items, list):
            problems.append(f"{where}: sections must be a list")
            return
        for n, item in enumerate(items, 1):
            here = f"{where} {n}".strip()
            if not isinstance(item, dict):
                problems.append(f"Section {here} is not an object")
                continue
            sid, title = str(item.get("id", "")), str(item.get("title", "")).strip()
            if not _SECTION_ID.match(sid):
                problems.append(
                    f"Section {here}: id '{sid}' must be lower-case letters, digits or _ "
                    "(starting with a letter)"
                )
            elif sid in seen:
                problems.append(f"Section {here}: id '{sid}' is used twice")
            seen.add(sid)
            if not title or len(title) > 120:
                problems.append(f"Section {here}: a title of 1–120 characters is needed")
            if item.get("type", "text") not in SECTION_TYPES:
                problems.append(f"Section {here}: type must be one of {', '.join(SECTION_TYPES)}")
            if not isinstance(item.get("required", False), bool):
                problems.append(f"Section {here}: required must be true or false")
            if len(str(item.get("prompt", ""))) > 2000:
                problems.append(f"Section {here}: the prompt is over 2,000 characters")
            subsections = item.get("subsections") or []
            if subsections:
                if depth >= MAX_DEPTH:
                    problems.append(f"Section {here}: subsections go at most {MAX_DEPTH} deep")
                else:
                    walk(subsections, depth + 1, f"{here}.")

    if not isinstance(sections, list) or not sections:
        raise AppError("TEMPLATE_INVALID", "A template needs at least one section.")
    walk(sections, 1, "")
    if len(seen) > MAX_SECTIONS:
        problems.append(f"A template has at most {MAX_SECTIONS} sections")
    if problems:
        raise AppError("TEMPLATE_INVALID", "; ".join(problems[:8]) + ".", {"problems": problems})
    parsed = [TemplateSection.from_json(s) for s in sections]
    if not list(leaf_sections(parsed)):
        raise AppError("TEMPLATE_INVALID", "A template needs at least one section to write.")
    return parsed


def _clean(name: str, report_type: str, prompt: str, sections: Any) -> list[dict[str, Any]]:
    if not name.strip() or len(name.strip()) > 120:
        raise AppError("TEMPLATE_INVALID", "A template name of 1–120 characters is needed.")
    if report_type not in REPORT_TYPES:
        raise AppError(
            "TEMPLATE_INVALID", f"The report type must be one of {', '.join(REPORT_TYPES)}."
        )
    if len(prompt) > 4000:
        raise AppError("TEMPLATE_INVALID", "The template prompt is over 4,000 characters.")
    parse_sections(sections)

    def normal(item: dict[str, Any]) -> dict[str, Any]:
        return _s(
            str(item["id"]),
            str(item["title"]).strip(),
            bool(item.get("required", False)),
            str(item.get("type", "text")),
            str(item.get("prompt", "")),
            [normal(s) for s in item.get("subsections") or []],
        )

    return [normal(s) for s in sections]


def ensure_builtins(session: Session, *, clinic_id: uuid.UUID) -> None:
    """The five built-ins exist in every clinic (made on first use; idempotent)."""
    present = set(
        session.exec(
            select(ReportTemplate.builtin_key).where(
                ReportTemplate.clinic_id == clinic_id, col(ReportTemplate.builtin_key).is_not(None)
            )
        ).all()
    )
    for key, data in BUILTINS.items():
        if key in present:
            continue
        row_id = uuid.uuid4()
        session.add(
            ReportTemplate(
                id=row_id,
                family_id=row_id,
                clinic_id=clinic_id,
                builtin_key=key,
                name=data["name"],
                description=data["description"],
                report_type=data["report_type"],
                sections=data["sections"],
                prompt=data["prompt"],
                is_default=key == "soap",
                is_public=True,
            )
        )
    session.flush()


def _visible(actor: Actor) -> Any:
    return and_(
        col(ReportTemplate.clinic_id) == actor.clinic_id,
        col(ReportTemplate.deleted_at).is_(None),
        or_(
            col(ReportTemplate.owner_user_id).is_(None),
            ReportTemplate.owner_user_id == actor.user_id,
            col(ReportTemplate.is_public).is_(True),
        ),
    )


def as_dict(row: ReportTemplate, actor: Actor) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "description": row.description,
        "report_type": row.report_type,
        "sections": row.sections,
        "prompt": row.prompt,
        "builtin": bool(row.builtin_key),
        "is_default": row.is_default,
        "is_active": row.is_active,
        "is_public": row.is_public,
        "template_version": row.template_version,
        "version": row.version,
        "usage_count": row.usage_count,
        "last_used": row.last_used_at.isoformat() if row.last_used_at else "",
        "owner": "clinic" if row.owner_user_id is None else (
            "me" if row.owner_user_id == actor.user_id else "colleague"
        ),
        "can_edit": can_edit(row, actor),
    }  # fmt: skip


def can_edit(row: ReportTemplate, actor: Actor) -> bool:
    if row.owner_user_id is None:
        return actor.role == "clinic_admin"
    return row.owner_user_id == actor.user_id


def list_templates(
    session: Session, *, actor: Actor, active_only: bool = True
) -> list[dict[str, Any]]:
    require(actor, "report:read")
    ensure_builtins(session, clinic_id=actor.clinic_id)
    query = select(ReportTemplate).where(_visible(actor))
    if active_only:
        query = query.where(col(ReportTemplate.is_active).is_(True))
    rows = session.exec(query.order_by(ReportTemplate.name)).all()  # type: ignore[arg-type]
    return [as_dict(r, actor) for r in rows]


def load(session: Session, *, actor: Actor, template_id: str) -> ReportTemplate:
    row = session.exec(
        select(ReportTemplate).where(
            ReportTemplate.id == parse_id(template_id, "Template"), _visible(actor)
        )
    ).first()
    if row is None:
        raise NotFound("Template")
    return row


def default_template(session: Session, *, actor: Actor) -> ReportTemplate:
    """The doctor's own default, else the clinic's, else SOAP."""
    ensure_builtins(session, clinic_id=actor.clinic_id)
    rows = session.exec(
        select(ReportTemplate).where(
            _visible(actor),
            col(ReportTemplate.is_active).is_(True),
            col(ReportTemplate.is_default).is_(True),
        )
    ).all()
    own = [r for r in rows if r.owner_user_id == actor.user_id]
    clinic = [r for r in rows if r.owner_user_id is None]
    chosen = (own or clinic)[0] if (own or clinic) else None
    if chosen is None:
        chosen = session.exec(
            select(ReportTemplate).where(
                ReportTemplate.clinic_id == actor.clinic_id,
                ReportTemplate.builtin_key == "soap",
                col(ReportTemplate.is_active).is_(True),
            )
        ).first()
    if chosen is None:
        raise AppError("TEMPLATE_MISSING", "No active report template; ask an admin to add one.")
    return chosen


def create(
    session: Session,
    *,
    actor: Actor,
    name: str,
    sections: Any,
    report_type: str = "consultation",
    prompt: str = "",
    description: str = "",
    is_public: bool = False,
    clinic_wide: bool = False,
) -> ReportTemplate:
    require(actor, "report_template:manage")
    if clinic_wide and actor.role != "clinic_admin":
        raise AppError("FORBIDDEN", "Only a clinic admin can add a clinic-wide template.")
    cleaned = _clean(name, report_type, prompt, sections)
    row_id = uuid.uuid4()
    row = ReportTemplate(
        id=row_id,
        family_id=row_id,
        clinic_id=actor.clinic_id,
        owner_user_id=None if clinic_wide else actor.user_id,
        name=name.strip(),
        description=description.strip()[:500],
        report_type=report_type,
        sections=cleaned,
        prompt=prompt,
        is_public=True if clinic_wide else is_public,
        created_by=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record_by(
        session,
        actor,
        "report_template.create",
        entity_type="report_template",
        entity_id=row.id,
        after={"name": row.name, "sections": len(cleaned)},
    )
    return row


def update(
    session: Session,
    *,
    actor: Actor,
    template_id: str,
    version: int,
    name: str,
    sections: Any,
    report_type: str,
    prompt: str = "",
    description: str = "",
    is_public: bool | None = None,
) -> ReportTemplate:
    """Edit in place while unused; once used, save as a new version and retire the old."""
    require(actor, "report_template:manage")
    row = load(session, actor=actor, template_id=template_id)
    if not can_edit(row, actor):
        raise AppError("FORBIDDEN", "You can copy this template but not change it.")
    if not row.is_active:
        raise AppError("TEMPLATE_RETIRED", "This is an old version; edit the current one.")
    if row.version != int(version):
        raise AppError("VERSION_CONFLICT", "Someone else saved this template; reload it first.")
    cleaned = _clean(name, report_type, prompt, sections)
    public = row.is_public if is_public is None else is_public
    if row.usage_count == 0:
        row.name, row.sections, row.report_type = name.strip(), cleaned, report_type
        row.prompt, row.description, row.is_public = prompt, description.strip()[:500], public
        row.version += 1
        row.updated_at, row.updated_by = utcnow(), actor.user_id
        session.add(row)
        target = row
    else:
        row.is_active = False
        row.version += 1
        session.add(row)
        target = ReportTemplate(
            clinic_id=row.clinic_id,
            family_id=row.family_id,
            owner_user_id=row.owner_user_id,
            builtin_key=row.builtin_key,
            name=name.strip(),
            description=description.strip()[:500],
            report_type=report_type,
            sections=cleaned,
            prompt=prompt,
            is_default=row.is_default,
            is_public=public,
            template_version=row.template_version + 1,
            parent_id=row.id,
            created_by=actor.user_id,
        )
        session.add(target)
    session.flush()
    audit.record_by(
        session,
        actor,
        "report_template.update",
        entity_type="report_template",
        entity_id=target.id,
        after={"name": target.name, "template_version": target.template_version},
    )
    return target


def copy(session: Session, *, actor: Actor, template_id: str) -> ReportTemplate:
    """A template of one's own to change, started from any visible one."""
    source = load(session, actor=actor, template_id=template_id)
    return create(
        session,
        actor=actor,
        name=f"{source.name} (my copy)"[:120],
        sections=source.sections,
        report_type=source.report_type,
        prompt=source.prompt,
        description=source.description,
    )


def set_flags(
    session: Session,
    *,
    actor: Actor,
    template_id: str,
    is_default: bool | None = None,
    is_active: bool | None = None,
) -> ReportTemplate:
    """Default: one per owner (the doctor's own, or the clinic's). Retire/restore: is_active."""
    require(actor, "report_template:manage")
    row = load(session, actor=actor, template_id=template_id)
    if not can_edit(row, actor):
        raise AppError("FORBIDDEN", "You can copy this template but not change it.")
    if is_default:
        others = session.exec(
            select(ReportTemplate).where(
                ReportTemplate.clinic_id == row.clinic_id,
                ReportTemplate.owner_user_id == row.owner_user_id
                if row.owner_user_id
                else col(ReportTemplate.owner_user_id).is_(None),
                col(ReportTemplate.is_default).is_(True),
                ReportTemplate.id != row.id,
            )
        ).all()
        for other in others:
            other.is_default = False
            session.add(other)
    if is_default is not None:
        row.is_default = is_default
    if is_active is not None:
        row.is_active = is_active
    row.version += 1
    session.add(row)
    audit.record_by(
        session,
        actor,
        "report_template.flags",
        entity_type="report_template",
        entity_id=row.id,
        after={"is_default": row.is_default, "is_active": row.is_active},
    )
    return row


def record_use(session: Session, *, template: ReportTemplate) -> None:
    template.usage_count += 1
    template.last_used_at = utcnow()
    session.add(template)
