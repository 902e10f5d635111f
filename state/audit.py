"""Audit log page state (clinic admins): filters, the newest 500 rows, CSV export."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services import audit_log
from state.base import AppState


class AuditState(AppState):
    rows: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    filter_error: rx.Field[str] = rx.field("")
    _filters: dict[str, str] = {}

    def _filter(self) -> audit_log.AuditFilter:
        return audit_log.AuditFilter(**{k: str(v)[:254] for k, v in self._filters.items()})

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("audit")
        if actor is None:
            self.rows = []
            return
        self._search(actor)

    def _search(self, actor: Any) -> None:
        self.filter_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                found = audit_log.search(session, actor=actor, filters=self._filter())
        except AppError as exc:
            self.filter_error = exc.message
            return
        self.rows = [dataclasses.asdict(row) for row in found]

    @rx.event
    def apply_filters(self, form_data: dict[str, Any]) -> None:
        actor = self._require("audit:read")
        fields = {f.name for f in dataclasses.fields(audit_log.AuditFilter)}
        self._filters = {k: str(v) for k, v in form_data.items() if k in fields and v}
        self._search(actor)

    @rx.event
    def export_csv(self) -> EventSpec | None:
        actor = self._require("audit:read")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                data = audit_log.export_csv(session, actor=actor, filters=self._filter())
        except AppError as exc:
            self.filter_error = exc.message
            return None
        return rx.download(data=data, filename="audit-log.csv")
