"""Admin page state: clinic_admin only; a read-only list of the clinic's users and roles."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from clinic_app.db import session_scope
from clinic_app.services.auth import list_members
from state.base import AppState


class AdminState(AppState):
    members: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("admin")
        if actor is None:
            self.members = []
            return
        with session_scope(clinic_id=actor.clinic_id) as session:
            rows = list_members(session, actor=actor)
        self.members = [dataclasses.asdict(row) for row in rows]
