"""Worklist page state: today's appointments grouped by status, one-click steps, live.

"Start" moves the appointment to ``in_consultation`` and opens the scribe for it.
Seam for the Scribe issue: today that is a link to ``/scribe?appointment=<id>``; the Scribe
issue replaces ``scribe_url`` (or the page it opens) with ``start_consultation(...)``.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import reflex as rx
from reflex.event import EventSpec

from clinic_app import live
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services.scheduling import transition_appointment
from clinic_app.services.worklist import SCOPES, Worklist, todays_worklist
from state.base import AppState
from state.live import needs_watcher, page_key, run_live_loop, show


def scribe_url(appointment_id: str) -> str:
    """Where "Start" takes the doctor (the Scribe issue's seam)."""
    return f"/scribe?appointment={appointment_id}"


class WorklistState(AppState):
    day_label: rx.Field[str] = rx.field("")
    timezone: rx.Field[str] = rx.field("")
    total: rx.Field[int] = rx.field(0)
    groups: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    scope: rx.Field[str] = rx.field("")
    branch: rx.Field[str] = rx.field("")
    branches: rx.Field[list[str]] = rx.field(default_factory=list)
    live: rx.Field[bool] = rx.field(False)
    busy_id: rx.Field[str] = rx.field("")

    @rx.event
    def load(self) -> EventSpec | None:
        actor = self._guard_page("worklist")
        if actor is None:
            return None
        self._load(actor)
        return WorklistState.watch_live if needs_watcher(self) else None

    def _load(self, actor: Actor) -> None:
        params = self._live_params()
        show(self, params, self._live_query(actor, params, ""))

    def _live_params(self) -> tuple[str | None, str | None]:
        """The scope and branch shown (``run_live_loop``)."""
        return self.scope or None, self.branch or None

    @staticmethod
    def _live_query(actor: Actor, params: tuple[str | None, str | None], change: str) -> Worklist:
        """Today's worklist; a live refresh (``change``) shares one query per view."""
        scope, branch = params

        def query() -> Worklist:
            with session_scope(clinic_id=actor.clinic_id) as session:
                return todays_worklist(session, actor=actor, scope=scope, branch=branch)

        if not change:
            return query()
        mine = actor.user_id if scope in (None, "mine") else None
        return live.shared(("worklist", actor.clinic_id, scope, branch, mine, change), query)

    def _live_show(self, params: tuple[str | None, str | None], worklist: Worklist) -> None:
        """Today's worklist on the page (``params`` are in ``worklist`` already)."""
        if worklist.day_start and worklist.day_end:
            # Any provider (scopes and branches vary), through tomorrow: a worklist left open
            # past midnight moves on to the new day at its first change.
            end = worklist.day_end + timedelta(days=1)
            live.watch(page_key(self), live.View(start=worklist.day_start, end=end))
        self.day_label = worklist.day_label
        self.timezone = worklist.timezone
        self.total = worklist.total
        groups = [dataclasses.asdict(group) for group in worklist.groups]
        if groups != self.groups:  # a live refresh that changes nothing sends nothing
            self.groups = groups
        self.scope = worklist.scope
        self.branches = worklist.branches
        if not self.branch and worklist.branches:
            self.branch = worklist.branches[0]
        self.loaded = True

    @rx.event(background=True)
    async def watch_live(self) -> None:
        """Changes from any screen or process show here within a second or two."""
        await run_live_loop(self, "appointment:read")

    @rx.event
    def set_scope(self, scope: str | list[str]) -> None:
        actor = self._require("appointment:read")
        scope = scope[0] if isinstance(scope, list) and scope else str(scope)
        if scope in SCOPES:
            self.scope = scope
            self._load(actor)

    @rx.event
    def set_branch(self, branch: str) -> None:
        actor = self._require("appointment:read")
        if branch in self.branches:
            self.branch = branch
            self.scope = "branch"
            self._load(actor)

    @rx.event
    def advance(self, appointment_id: str, to_status: str, version: int) -> EventSpec | None:
        """One click: arrive / ready / start / complete (a double click changes nothing)."""
        actor = self._require("appointment:transition")
        self.busy_id = str(appointment_id)
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                transition_appointment(
                    session,
                    actor=actor,
                    appointment_id=appointment_id,
                    to_status=to_status,
                    expected_version=int(version),
                    idempotency_key=f"{appointment_id}:{version}:{to_status}",
                )
        except AppError as exc:
            self.error_message = exc.message[:300]
            self._load(actor)
            return None
        finally:
            self.busy_id = ""
        self._load(actor)
        if to_status == "in_consultation":
            return rx.redirect(scribe_url(str(appointment_id)))
        return None
