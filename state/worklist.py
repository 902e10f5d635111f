"""Worklist page state: today's appointments of the clinic, grouped by status."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from clinic_app.db import session_scope
from clinic_app.services.worklist import todays_worklist
from state.base import AppState


class WorklistState(AppState):
    day_label: rx.Field[str] = rx.field("")
    timezone: rx.Field[str] = rx.field("")
    total: rx.Field[int] = rx.field(0)
    groups: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("worklist")
        if actor is None:
            return
        with session_scope(clinic_id=actor.clinic_id) as session:
            worklist = todays_worklist(session, actor=actor)
        self.day_label = worklist.day_label
        self.timezone = worklist.timezone
        self.total = worklist.total
        self.groups = [dataclasses.asdict(group) for group in worklist.groups]
        self.loaded = True
