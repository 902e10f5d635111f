"""The permission matrix: the only place that decides who may do what.

Keys are ``resource:action``; values are the roles allowed. The Identity issue extends this
matrix; callers only ever use ``can`` and ``require``.
"""

from __future__ import annotations

from clinic_app.errors import Forbidden
from clinic_app.security.actor import Actor
from models.identity import ROLES

# Not a membership role: a flag on the user (``users.is_super_admin``) for the installation.
SUPER_ADMIN = "super_admin"
CLINICAL = frozenset({"doctor", "nurse", "clinic_admin"})
FRONT_DESK = frozenset({"receptionist", "clinic_admin"})
STAFF = frozenset(
    {"clinic_admin", "doctor", "nurse", "receptionist", "pharmacist", "lab_tech", "accountant"}
)

MATRIX: dict[str, frozenset[str]] = {
    "patient:list": STAFF - {"accountant"},
    "patient:create": FRONT_DESK | CLINICAL,
    "patient:read_phi": CLINICAL,
    "patient:export": CLINICAL,
    # ---- Patients and chart (issue 6) ----
    "patient:update_chart": CLINICAL,
    "encounter:create": CLINICAL,
    "patient:upload": FRONT_DESK | CLINICAL,
    "appointment:read": STAFF,
    "appointment:create": FRONT_DESK | CLINICAL,
    # ---- Scheduling (issue 7): calendar, availability, lifecycle ----
    # Moving/resizing is front-desk and clinical work; status steps (arrive, ready, start,
    # complete, cancel) happen at the desk and in the consulting room; only admins and
    # reception edit working hours, leave and holidays.
    "appointment:update": FRONT_DESK | CLINICAL,
    "appointment:transition": FRONT_DESK | CLINICAL,
    "availability:manage": FRONT_DESK,
    # ---- end Scheduling ----
    "job:read": STAFF,
    "job:retry": STAFF,
    "file:download": STAFF,
    "admin:access": frozenset({"clinic_admin"}),
    # ---- Identity (issue 5): users, audit log, portal access, signing ----
    "account:self": STAFF,
    "user:manage": frozenset({"clinic_admin"}),
    "audit:read": frozenset({"clinic_admin"}),
    "patient:portal_invite": FRONT_DESK | CLINICAL,
    "report:sign": frozenset({"doctor"}),
    "prescription:create": frozenset({"doctor"}),
    "prescription:sign": frozenset({"doctor"}),
    "prescription:dispense": frozenset({"pharmacist"}),
    # ---- Scribe (issue 8): the doctor records and transcribes their consultations ----
    "scribe:record": frozenset({"doctor"}),
    # ---- Scribe part 2 (issue 9): drafted reports and their templates ----
    # Doctors draft, edit and sign their own reports; nurses and admins read signed ones.
    "report:draft": frozenset({"doctor"}),
    "report:read": CLINICAL,
    "report_template:manage": frozenset({"doctor", "clinic_admin"}),
    # ---- Drawing-annotated records (issue 10): doctors and nurses draw and sign ----
    "record:read": CLINICAL,
    "record:write": frozenset({"doctor", "nurse"}),
    "record:sign": frozenset({"doctor", "nurse"}),
    "form_template:manage": frozenset({"doctor", "clinic_admin"}),
    # ---- Prescriptions (issue 11) ----
    # Reading is further scoped in the service: doctors see patients they have an encounter
    # with, pharmacists every signed prescription, everyone else only through break-glass.
    "prescription:read": frozenset({"doctor", "nurse", "pharmacist", "clinic_admin"}),
    "prescription:break_glass": CLINICAL,
    "catalog:read": frozenset({"doctor", "nurse", "pharmacist", "clinic_admin"}),
    "catalog:manage": frozenset({"clinic_admin", "pharmacist"}),
    # The patient portal: a patient's own record only (services scope by actor.patient_id).
    "portal:self": frozenset({"patient"}),
    # Portal self-booking (issue 7): a patient books and cancels their own visits only; the
    # scheduling service enforces "own" and the portal service the clinic's policy.
    "appointment:self_book": frozenset({"patient"}),
    # Operations (issue 12): queues, workers, failed jobs, dependency health.
    "system:read": frozenset({"clinic_admin"}),
    # The installation console: clinics (tenants) and their first admins; no clinic data.
    "installation:manage": frozenset({SUPER_ADMIN}),
}


# Display order of the matrix page: staff roles, the portal, the installation operator.
ALL_ROLES = (*ROLES, SUPER_ADMIN)


def matrix_rows() -> list[tuple[str, list[bool]]]:
    """The matrix as rows of (permission, allowed per role in ``ALL_ROLES`` order) for display."""
    return [(name, [role in roles for role in ALL_ROLES]) for name, roles in sorted(MATRIX.items())]


def can(actor: Actor, permission: str) -> bool:
    if permission not in MATRIX:
        raise KeyError(f"unknown permission {permission!r}")
    allowed = MATRIX[permission]
    return actor.role in allowed or (actor.is_super_admin and SUPER_ADMIN in allowed)


def require(actor: Actor, permission: str) -> None:
    """Raise Forbidden unless the actor's role in their clinic allows ``permission``."""
    if not can(actor, permission):
        raise Forbidden()
