"""The medication catalog: the shared starter list, clinic additions, CSV import, type-ahead.

The starter catalog (``clinic_app/data/medication_catalog.csv``, source in the README next to
it) is loaded once per installation with ``clinic_id`` empty, so every clinic sees it; a clinic
adds its own items (admin or pharmacist) or imports a CSV with the same columns.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, or_, select

from clinic_app import audit
from clinic_app.errors import AppError, NotFound
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from models import Medication, StarterCatalogLoad
from models.base import utcnow

STARTER_CSV = Path(__file__).resolve().parent.parent / "data" / "medication_catalog.csv"
COLUMNS = (
    "generic_name",
    "brand_names",
    "strength",
    "form",
    "route",
    "ingredients",
    "drug_classes",
    "rxcui",
    "max_daily_dose",
    "max_daily_unit",
)
ROUTES = (
    "oral",
    "inhalation",
    "intramuscular",
    "intravenous",
    "subcutaneous",
    "topical",
    "ophthalmic",
    "otic",
    "nasal",
    "transdermal",
    "rectal",
    "sublingual",
    "vaginal",
)
MAX_IMPORT_ROWS = 20_000


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def _list(text: str) -> list[str]:
    return [part.strip().lower() for part in (text or "").split("|") if part.strip()]


def _search_text(values: dict[str, Any]) -> str:
    words = [values["generic_name"], values["strength"], values["form"], *values["brand_names"]]
    words += values["ingredients"] + values["drug_classes"]
    return " ".join(w.lower() for w in words)[:1000]


def validate_row(row: dict[str, str]) -> dict[str, Any]:
    """One catalog row as model fields, or AppError("VALIDATION") saying what is wrong."""
    name = " ".join((row.get("generic_name") or "").split()).lower()
    if not name:
        raise AppError("VALIDATION", "generic_name is empty")
    if len(name) > 160:
        raise AppError("VALIDATION", "generic_name is longer than 160 characters")
    form = (row.get("form") or "").strip().lower()
    if not form or len(form) > 60:
        raise AppError("VALIDATION", "form is empty or too long")
    route = (row.get("route") or "").strip().lower()
    if route not in ROUTES:
        raise AppError("VALIDATION", f"route {route!r} is not one of {', '.join(ROUTES)}")
    strength = " ".join((row.get("strength") or "").split())
    if len(strength) > 80:
        raise AppError("VALIDATION", "strength is longer than 80 characters")
    rxcui = (row.get("rxcui") or "").strip()
    if rxcui and not re.fullmatch(r"\d{1,12}", rxcui):
        raise AppError("VALIDATION", f"rxcui {rxcui!r} is not a number")
    max_text = (row.get("max_daily_dose") or "").strip()
    max_unit = (row.get("max_daily_unit") or "").strip()
    max_dose: float | None = None
    if max_text:
        try:
            max_dose = float(max_text)
        except ValueError:
            raise AppError("VALIDATION", f"max_daily_dose {max_text!r} is not a number") from None
        if not max_dose > 0 or not max_unit:
            raise AppError("VALIDATION", "max_daily_dose needs a positive value and a unit")
    ingredients = _list(row.get("ingredients", "")) or [name]
    values: dict[str, Any] = {
        "generic_name": name,
        "brand_names": [b.strip() for b in (row.get("brand_names") or "").split("|") if b.strip()],
        "strength": strength,
        "form": form,
        "route": route,
        "ingredients": ingredients,
        "drug_classes": _list(row.get("drug_classes", "")),
        "rxcui": rxcui or None,
        "max_daily_dose": max_dose,
        "max_daily_unit": max_unit if max_dose else None,
    }
    values["search_text"] = _search_text(values)
    return values


def _owner(clinic_id: uuid.UUID | None) -> Any:
    if clinic_id is None:
        return col(Medication.clinic_id).is_(None)
    return Medication.clinic_id == clinic_id


def _existing(
    session: Session, clinic_id: uuid.UUID | None, values: dict[str, Any]
) -> Medication | None:
    return session.exec(
        select(Medication).where(
            _owner(clinic_id),
            Medication.generic_name == values["generic_name"],
            Medication.strength == values["strength"],
            Medication.form == values["form"],
        )
    ).first()


def import_rows(
    session: Session, *, text: str, clinic_id: uuid.UUID | None, source: str
) -> ImportReport:
    """Add or update catalog rows from CSV text; bad rows are reported, good ones kept.

    One query loads the owner's current rows and new rows go in one multi-row INSERT: the
    starter catalog (1,200 rows) loads in a fraction of a second.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("generic_name", "form", "route") if c not in (reader.fieldnames or [])]
    if missing:
        raise AppError(
            "VALIDATION",
            f"The CSV needs a header row with {', '.join(COLUMNS)}; missing: {', '.join(missing)}.",
        )
    current = {
        (m.generic_name, m.strength, m.form): m
        for m in session.exec(select(Medication).where(_owner(clinic_id))).all()
    }
    seen: set[tuple[str, str, str]] = set()
    new_rows: list[dict[str, Any]] = []
    now = utcnow()
    for line, row in enumerate(reader, start=2):
        if line - 1 > MAX_IMPORT_ROWS:
            report.rejected.append((line, f"more than {MAX_IMPORT_ROWS} rows; the rest skipped"))
            break
        try:
            values = validate_row(row)
        except AppError as exc:
            report.rejected.append((line, exc.message))
            continue
        identity = (values["generic_name"], values["strength"], values["form"])
        if identity in seen:
            report.rejected.append((line, "the same name, strength and form appear earlier"))
            continue
        seen.add(identity)
        existing = current.get(identity)
        if existing is None:
            new_rows.append(
                {
                    "id": uuid.uuid4(),
                    "clinic_id": clinic_id,
                    "source": source,
                    "is_active": True,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    **values,
                }
            )
        elif any(getattr(existing, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(existing, key, value)
            existing.version += 1
            existing.updated_at = now
            session.add(existing)
            report.updated += 1
    if new_rows:
        session.execute(sa.insert(Medication), new_rows)
    report.added = len(new_rows)
    session.flush()
    return report


def ensure_starter_catalog(session: Session) -> int:
    """Load (or refresh) the shipped starter catalog when its file changed; rows added+updated.

    Runs after every ``upgrade_head``: the file's SHA-256 is remembered, so an unchanged file
    costs one lookup, and a new release's catalog updates rows in place (ids stay, so
    prescriptions keep pointing at them). Rows removed from the file are left alone.
    """
    text = STARTER_CSV.read_text(encoding="utf-8")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if session.get(StarterCatalogLoad, digest) is not None:
        return 0
    report = import_rows(session, text=text, clinic_id=None, source="starter")
    if report.rejected:
        raise RuntimeError(f"starter catalog has bad rows: {report.rejected[:5]}")
    session.add(StarterCatalogLoad(sha256=digest, rows=report.added + report.updated))
    session.flush()
    return report.added + report.updated


def import_for_clinic(session: Session, *, actor: Actor, text: str) -> ImportReport:
    """An admin's or pharmacist's CSV of local items."""
    require(actor, "catalog:manage")
    report = import_rows(session, text=text, clinic_id=actor.clinic_id, source="import")
    audit.record_by(
        session,
        actor,
        "catalog.import",
        entity_type="medication",
        after={"added": report.added, "updated": report.updated, "rejected": len(report.rejected)},
    )
    return report


def add_local_item(session: Session, *, actor: Actor, row: dict[str, str]) -> uuid.UUID:
    """One clinic item entered by hand (same fields and checks as a CSV row)."""
    require(actor, "catalog:manage")
    values = validate_row(row)
    if _existing(session, actor.clinic_id, values) or _existing(session, None, values):
        raise AppError(
            "CATALOG_DUPLICATE", "The catalog already has this medicine, strength and form."
        )
    item = Medication(clinic_id=actor.clinic_id, source="local", created_by=actor.user_id, **values)
    session.add(item)
    session.flush()
    audit.record_by(
        session, actor, "catalog.add", entity_type="medication", entity_id=item.id, after=values
    )
    return item.id


def _visible_to(clinic_id: uuid.UUID) -> Any:
    """The shared starter catalog plus the clinic's own items."""
    return or_(col(Medication.clinic_id).is_(None), Medication.clinic_id == clinic_id)


def _contains(word: str) -> Any:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return col(Medication.search_text).like(f"%{escaped}%", escape="\\")


def search(session: Session, *, actor: Actor, query: str, limit: int = 12) -> list[dict[str, str]]:
    """Type-ahead ("amox 500", "motrin"): every word must appear in the name, strength, form,
    brands, ingredients or classes; names starting with the first word come first."""
    require(actor, "catalog:read")
    words = [w for w in re.split(r"\s+", (query or "").strip().lower()) if w][:5]
    if not words or len(words[0]) < 2:
        return []
    statement = select(Medication).where(
        _visible_to(actor.clinic_id), col(Medication.is_active).is_(True)
    )
    for word in words:
        statement = statement.where(_contains(word))
    rows = session.exec(statement.limit(200)).all()
    first = words[0]
    rows = sorted(
        rows,
        key=lambda m: (
            not m.generic_name.startswith(first),
            not any(b.lower().startswith(first) for b in m.brand_names),
            m.generic_name,
            m.strength,
        ),
    )
    return [describe(m) for m in rows[:limit]]


def describe(item: Medication) -> dict[str, str]:
    brands = ", ".join(item.brand_names[:3])
    return {
        "id": str(item.id),
        "generic_name": item.generic_name,
        "strength": item.strength,
        "form": item.form,
        "route": item.route,
        "label": " ".join(p for p in (item.generic_name, item.strength, item.form) if p),
        "brands": brands,
        "classes": ", ".join(item.drug_classes),
        "local": "yes" if item.clinic_id else "",
    }


def load_item(session: Session, *, actor: Actor, medication_id: str) -> Medication:
    try:
        mid = uuid.UUID(str(medication_id))
    except ValueError:
        raise NotFound("Medication") from None
    item = session.exec(
        select(Medication).where(Medication.id == mid, _visible_to(actor.clinic_id))
    ).first()
    if item is None or not item.is_active:
        raise NotFound("Medication")
    return item


def common_generics(session: Session, *, clinic_id: uuid.UUID, limit: int) -> list[str]:
    """Single-word generic names, those with the most products first (a stand-in for
    "commonly prescribed"): the words a speech engine should expect."""
    return list(
        session.exec(
            select(Medication.generic_name)
            .where(_visible_to(clinic_id), col(Medication.generic_name).not_like("% %"))
            .group_by(col(Medication.generic_name))
            .order_by(func.count().desc(), col(Medication.generic_name))
            .limit(limit)
        ).all()
    )


def drug_vocabulary(session: Session, *, clinic_id: uuid.UUID) -> frozenset[str]:
    """Every single word naming a medicine (generics, ingredients, brands), lower-case: what
    the report verifier treats as a drug name that must be in a sentence's evidence."""
    rows = session.exec(
        select(Medication.generic_name, Medication.ingredients, Medication.brand_names).where(
            _visible_to(clinic_id)
        )
    ).all()
    words: set[str] = set()
    for generic, ingredients, brands in rows:
        for name in (generic, *ingredients, *brands):
            words.update(w for w in re.findall(r"[a-z][a-z-]+", str(name).lower()) if len(w) > 3)
    return frozenset(words - _NOT_DRUG_NAMES)


# Words inside product names that are not a medicine by themselves.
_NOT_DRUG_NAMES = frozenset({
    "acid", "sodium", "potassium", "hydrochloride", "calcium", "magnesium", "extended",
    "release", "delayed", "oral", "solution", "tablet", "tablets", "capsule", "cream", "topical",
    "injection", "inhaler", "insulin", "vitamin", "human", "chloride", "sulfate", "acetate",
    "citrate", "phosphate", "succinate", "tartrate", "besylate", "maleate", "mesylate",
    "bromide", "hydrobromide", "fumarate", "propionate", "dipropionate", "furoate", "and",
    "with", "plus", "forte", "junior", "children", "infant", "adult", "strength", "extra",
})  # fmt: skip


def _naming(session: Session, clinic_id: uuid.UUID, term: str) -> list[tuple[list[str], list[str]]]:
    """(ingredients, classes) of the catalog rows, shared or the clinic's, mentioning ``term``."""
    rows = session.exec(
        select(Medication.ingredients, Medication.drug_classes)
        .where(_visible_to(clinic_id), _contains(term))
        .limit(200)
    ).all()
    return [(list(ingredients), list(classes)) for ingredients, classes in rows]


def classes_of_substance(session: Session, *, actor: Actor, substance: str) -> tuple[str, ...]:
    """The catalog classes of an allergy substance that is a known ingredient (or ())."""
    term = substance.strip().lower()
    if not term:
        return ()
    for ingredients, classes in _naming(session, actor.clinic_id, term):
        if term in ingredients:
            return tuple(classes)
    return ()


def code_for_substance(session: Session, *, clinic_id: uuid.UUID, substance: str) -> str | None:
    """The catalog term an allergy substance names: an ingredient ("amoxicillin") or a drug
    class ("penicillin", "nsaid"), matched after the usual synonyms; None when unknown."""
    from clinic_app.services.prescription_safety import normalise_term

    term = normalise_term(substance)
    if len(term) < 3:
        return None
    for ingredients, classes in _naming(session, clinic_id, term):
        if term in ingredients or term in classes:
            return term
    return None
