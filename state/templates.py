"""Report template editor state: the templates a doctor may use, and one being edited.

Sections are edited as a flat list (``depth`` 0 = section, 1 = subsection of the section above)
and turned back into the nested JSON the service validates; the service refuses a bad
template with every reason, and the form keeps what was typed.
"""

from __future__ import annotations

import re
from typing import Any

import reflex as rx

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services import report_templates
from models.reports import REPORT_TYPES
from state.base import AppState

SECTION_TYPES = ("text", "list", "structured")


def _slug(title: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:30] or "section"
    if not base[0].isalpha():
        base = f"s_{base}"[:30]
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}_{n}", n + 1
    return slug


def flatten(sections: list[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for section in sections:
        for depth, item in [(0, section), *[(1, s) for s in section.get("subsections") or []]]:
            rows.append(
                {"id": str(item["id"]), "title": str(item["title"]),
                 "required": "1" if item.get("required") else "",
                 "type": str(item.get("type", "text")), "prompt": str(item.get("prompt", "")),
                 "depth": str(depth)}
            )  # fmt: skip
    return rows


def nest(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Flat rows back to sections; new rows get an id made from their title."""
    taken = {r["id"] for r in rows if r["id"]}
    sections: list[dict[str, Any]] = []
    for row in rows:
        sid = row["id"] or _slug(row["title"], taken)
        taken.add(sid)
        item = {"id": sid, "title": row["title"], "required": row["required"] == "1",
                "type": row["type"], "prompt": row["prompt"], "subsections": []}  # fmt: skip
        if row["depth"] == "1" and sections:
            sections[-1]["subsections"].append(item)
        else:
            sections.append(item)
    return sections


class TemplatesState(AppState):
    templates: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    editing: rx.Field[bool] = rx.field(False)
    template_id: rx.Field[str] = rx.field("")
    can_edit: rx.Field[bool] = rx.field(True)
    name: rx.Field[str] = rx.field("")
    description: rx.Field[str] = rx.field("")
    report_type: rx.Field[str] = rx.field("consultation")
    prompt: rx.Field[str] = rx.field("")
    is_public: rx.Field[bool] = rx.field(False)
    rows: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    form_error: rx.Field[str] = rx.field("")
    notice: rx.Field[str] = rx.field("")
    _version: int = 0

    @rx.var
    def report_types(self) -> list[str]:
        return list(REPORT_TYPES)

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("templates")
        if actor is None:
            return
        self.editing, self.form_error, self.notice = False, "", ""
        self._list(actor)

    def _list(self, actor: Any) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            found = report_templates.list_templates(session, actor=actor)
        self.templates = [
            {"id": t["id"], "name": t["name"], "type": t["report_type"],
             "version": str(t["template_version"]), "owner": t["owner"],
             "default": "1" if t["is_default"] else "", "uses": str(t["usage_count"]),
             "sections": str(len(t["sections"])), "can_edit": "1" if t["can_edit"] else ""}
            for t in found
        ]  # fmt: skip

    @rx.event
    def new_template(self) -> None:
        self._require("report_template:manage")
        self.template_id, self._version, self.can_edit = "", 0, True
        self.name, self.description, self.prompt = "", "", ""
        self.report_type, self.is_public = "consultation", False
        self.rows = [
            {"id": "", "title": "Findings", "required": "1", "type": "text", "prompt": "",
             "depth": "0"},
        ]  # fmt: skip
        self.editing, self.form_error, self.notice = True, "", ""

    @rx.event
    def open_template(self, template_id: str) -> None:
        self._open(self._require("report_template:manage"), str(template_id)[:64])

    def _open(self, actor: Any, template_id: str) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            row = report_templates.load(session, actor=actor, template_id=template_id)
            data = report_templates.as_dict(row, actor)
        self.template_id, self._version = data["id"], int(data["version"])
        self.can_edit = bool(data["can_edit"])
        self.name, self.description, self.prompt = data["name"], data["description"], data["prompt"]
        self.report_type, self.is_public = data["report_type"], bool(data["is_public"])
        self.rows = flatten(data["sections"])
        self.editing, self.form_error, self.notice = True, "", ""

    @rx.event
    def close(self) -> None:
        self._require("report_template:manage")
        self.editing = False

    # ---- the form ---------------------------------------------------------------------------

    @rx.event
    def set_field(self, name: str, value: str) -> None:
        self._require("report_template:manage")
        value = str(value)[:4000]
        if name == "name":
            self.name = value[:120]
        elif name == "description":
            self.description = value[:500]
        elif name == "prompt":
            self.prompt = value
        elif name == "report_type" and value in REPORT_TYPES:
            self.report_type = value

    @rx.event
    def set_public(self, value: bool) -> None:
        self._require("report_template:manage")
        self.is_public = bool(value)

    @rx.event
    def set_row(self, index: int, key: str, value: Any) -> None:
        self._require("report_template:manage")
        if not 0 <= int(index) < len(self.rows) or key not in (
            "title",
            "prompt",
            "type",
            "required",
        ):
            return
        rows = [dict(r) for r in self.rows]
        if key == "required":
            rows[int(index)][key] = "1" if value else ""
        elif key == "type":
            rows[int(index)][key] = value if value in SECTION_TYPES else "text"
        else:
            rows[int(index)][key] = str(value)[: 2000 if key == "prompt" else 120]
        self.rows = rows

    @rx.event
    def add_row(self, depth: int) -> None:
        self._require("report_template:manage")
        if len(self.rows) >= report_templates.MAX_SECTIONS:
            self.form_error = f"A template has at most {report_templates.MAX_SECTIONS} sections."
            return
        depth = 1 if depth and self.rows else 0
        self.rows = [*self.rows, {"id": "", "title": "New section" if not depth else "New part",
                                  "required": "", "type": "text", "prompt": "",
                                  "depth": str(depth)}]  # fmt: skip

    @rx.event
    def remove_row(self, index: int) -> None:
        self._require("report_template:manage")
        rows = [dict(r) for r in self.rows]
        if 0 <= int(index) < len(rows):
            rows.pop(int(index))
        if rows and rows[0]["depth"] == "1":
            rows[0]["depth"] = "0"
        self.rows = rows

    @rx.event
    def move_row(self, index: int, step: int) -> None:
        self._require("report_template:manage")
        i, j = int(index), int(index) + (1 if step > 0 else -1)
        rows = [dict(r) for r in self.rows]
        if 0 <= i < len(rows) and 0 <= j < len(rows):
            rows[i], rows[j] = rows[j], rows[i]
        if rows and rows[0]["depth"] == "1":
            rows[0]["depth"] = "0"
        self.rows = rows

    @rx.event
    def indent_row(self, index: int) -> None:
        """Section ↔ subsection of the section above (the first row stays a section)."""
        self._require("report_template:manage")
        rows = [dict(r) for r in self.rows]
        if 0 < int(index) < len(rows):
            rows[int(index)]["depth"] = "0" if rows[int(index)]["depth"] == "1" else "1"
        self.rows = rows

    # ---- saving -----------------------------------------------------------------------------

    @rx.event
    def save(self) -> None:
        actor = self._require("report_template:manage")
        self.form_error = self.notice = ""
        sections = nest(list(self.rows))
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                if self.template_id:
                    row = report_templates.update(
                        session, actor=actor, template_id=self.template_id, version=self._version,
                        name=self.name, sections=sections, report_type=self.report_type,
                        prompt=self.prompt, description=self.description, is_public=self.is_public,
                    )  # fmt: skip
                else:
                    row = report_templates.create(
                        session, actor=actor, name=self.name, sections=sections,
                        report_type=self.report_type, prompt=self.prompt,
                        description=self.description, is_public=self.is_public,
                    )  # fmt: skip
                data = report_templates.as_dict(row, actor)
        except AppError as exc:
            if exc.code in ("NOT_FOUND",):
                raise
            self.form_error = exc.message  # what was typed stays in the form
            return
        self.template_id, self._version = data["id"], int(data["version"])
        self.rows = flatten(data["sections"])
        self.notice = f"Saved — version {data['template_version']}."
        self._list(actor)

    @rx.event
    def copy(self) -> None:
        actor = self._require("report_template:manage")
        with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
            row = report_templates.copy(session, actor=actor, template_id=self.template_id)
            new_id = str(row.id)
        self._list(actor)
        self._open(actor, new_id)
        self.notice = "Copied: this template is yours to change."

    @rx.event
    def make_default(self) -> None:
        if self._flag(self._require("report_template:manage"), is_default=True):
            self.notice = "New drafts use this template unless you pick another."
            self._version += 1

    @rx.event
    def retire(self) -> None:
        if self._flag(self._require("report_template:manage"), is_active=False):
            self.editing = False

    def _flag(self, actor: Any, **flags: bool) -> bool:
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                report_templates.set_flags(
                    session, actor=actor, template_id=self.template_id, **flags
                )
        except AppError as exc:
            if exc.code == "NOT_FOUND":
                raise
            self.form_error = exc.message
            return False
        self._list(actor)
        return True
