"""Installation console state (super admins): the clinics of this server, new clinics."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import clinics
from state.base import AppState


class InstallationState(AppState):
    clinics: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    form_error: rx.Field[str] = rx.field("")
    saved: rx.Field[str] = rx.field("")

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("installation")
        if actor is None:
            self.clinics = []
            return
        self.form_error = self.saved = ""
        self._reload(actor)

    def _reload(self, actor: Actor) -> None:
        # Installation-wide work: no clinic context (the console counts across clinics).
        with session_scope() as session:
            rows = clinics.list_clinics(session, actor=actor)
        self.clinics = [dataclasses.asdict(row) for row in rows]

    @rx.event
    def create_clinic(self, form: dict[str, Any]) -> EventSpec | None:
        actor = self._require("installation:manage")
        self.form_error = self.saved = ""
        values = {k: str(form.get(k) or "")[:254] for k in (
            "name", "slug", "timezone", "admin_email", "admin_name", "admin_password")}  # fmt: skip
        try:
            with session_scope() as session:
                clinics.create_clinic_as(session, actor=actor, **values)
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.form_error = exc.message
            return None  # the form keeps what was typed
        self.saved = f"Clinic {values['name']} created; {values['admin_email']} can sign in."
        self._reload(actor)
        return rx.call_script("document.getElementById('new-clinic-form')?.reset()")

    @rx.event
    def set_active(self, slug: str, active: bool) -> None:
        actor = self._require("installation:manage")
        self.form_error = self.saved = ""
        try:
            with session_scope() as session:
                clinics.set_clinic_active(session, actor=actor, slug=str(slug), active=bool(active))
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.form_error = exc.message
            return
        self._reload(actor)
