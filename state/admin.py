"""Admin page state (clinic admins): team, roles, disabling, MFA reset and policy, permissions."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import reflex as rx

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.permissions import ALL_ROLES, matrix_rows
from clinic_app.services import clinics, prescriptions, users
from clinic_app.services.auth import ROLE_LABELS, STAFF_ROLES
from state.base import AppState

STAFF_ROLE_OPTIONS = [role for role in ALL_ROLES if role in STAFF_ROLES]


class AdminState(AppState):
    members: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    mfa_roles: rx.Field[list[str]] = rx.field(default_factory=list)
    matrix: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    branches: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    # Break-glass openings of prescriptions, for the admins to review.
    break_glass: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    branch_error: rx.Field[str] = rx.field("")
    form_error: rx.Field[str] = rx.field("")
    saved: rx.Field[str] = rx.field("")
    # Rows are addressed by email in the browser; internal ids stay here.
    _member_ids: dict[str, str] = {}

    def _user_id(self, email: str) -> uuid.UUID:
        user_id = self._member_ids.get(str(email))
        if not user_id:
            raise AppError("NOT_FOUND", "User was not found.")
        return uuid.UUID(user_id)

    @rx.var
    def role_options(self) -> list[str]:
        return STAFF_ROLE_OPTIONS

    @rx.var
    def matrix_roles(self) -> list[str]:
        return [ROLE_LABELS[role] for role in ALL_ROLES]

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("admin")
        if actor is None:
            self.members = []
            self.matrix = []
            return
        self._reload(actor)
        self.matrix = [{"permission": name, "allowed": allowed} for name, allowed in matrix_rows()]

    def _reload(self, actor: Any) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            rows = users.list_members(session, actor=actor)
            self.mfa_roles = users.mfa_required_roles(session, actor=actor)
            branch_rows = clinics.list_branches(session, actor=actor)
            self.break_glass = prescriptions.break_glass_log(session, actor=actor)
        self.branches = [dataclasses.asdict(row) for row in branch_rows]
        self._member_ids = {row.email: row.user_id for row in rows}
        self.members = [
            {k: v for k, v in dataclasses.asdict(row).items() if k != "user_id"} for row in rows
        ]

    @rx.event
    def create_member(self, form_data: dict[str, Any]) -> None:
        """Add a staff member; the form keeps its values when something is wrong."""
        actor = self._require("user:manage")
        self.form_error = ""
        self.saved = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                users.create_user(
                    session,
                    actor=actor,
                    email=str(form_data.get("email") or "")[:254],
                    full_name=str(form_data.get("full_name") or "")[:200],
                    role=str(form_data.get("role") or ""),
                    password=str(form_data.get("password") or "")[:1024],
                )
        except AppError as exc:
            self.form_error = exc.message
            return
        self.saved = "Team member added."
        self._reload(actor)

    @rx.event
    def change_role(self, email: str, role: str) -> None:
        actor = self._require("user:manage")
        with session_scope(clinic_id=actor.clinic_id) as session:
            users.change_role(session, actor=actor, user_id=self._user_id(email), role=str(role))
        self.saved = "Role changed; their open sessions were signed out."
        self._reload(actor)

    @rx.event
    def set_registration(self, email: str, number: str) -> None:
        actor = self._require("user:manage")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                users.set_registration_number(
                    session, actor=actor, user_id=self._user_id(email), number=str(number)[:80]
                )
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.form_error = exc.message
            return
        self.saved = "Registration number saved; it is printed on their prescriptions."
        self._reload(actor)

    @rx.event
    def set_active(self, email: str, active: bool) -> None:
        actor = self._require("user:manage")
        with session_scope(clinic_id=actor.clinic_id) as session:
            users.set_active(
                session, actor=actor, user_id=self._user_id(email), active=bool(active)
            )
        self.saved = "Account enabled." if active else "Account disabled and signed out."
        self._reload(actor)

    @rx.event
    def reset_mfa(self, email: str) -> None:
        actor = self._require("user:manage")
        with session_scope(clinic_id=actor.clinic_id) as session:
            users.reset_mfa(session, actor=actor, user_id=self._user_id(email))
        self.saved = "Two-step verification reset; they set it up again at the next sign-in."
        self._reload(actor)

    @rx.event
    def toggle_mfa_role(self, role: str, required: bool) -> None:
        actor = self._require("user:manage")
        wanted = set(self.mfa_roles) | {role} if required else set(self.mfa_roles) - {role}
        with session_scope(clinic_id=actor.clinic_id) as session:
            users.set_mfa_required_roles(session, actor=actor, roles=sorted(wanted))
        self.saved = "Two-step verification policy saved."
        self._reload(actor)

    @rx.event
    def add_branch(self, form_data: dict[str, Any]) -> None:
        actor = self._require("user:manage")
        self.branch_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                clinics.add_branch(
                    session,
                    actor=actor,
                    name=str(form_data.get("name") or "")[:200],
                    address=str(form_data.get("address") or "")[:400],
                    phone=str(form_data.get("phone") or "")[:40],
                )
        except AppError as exc:
            self.branch_error = exc.message
            return
        self.saved = "Branch added."
        self._reload(actor)
