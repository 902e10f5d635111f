"""Who is acting: passed keyword-only to every service so rules and audit rows know."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: uuid.UUID
    clinic_id: uuid.UUID
    role: str
    full_name: str
    email: str
    # The sign-in session this actor acts through (step-up, "sign out other sessions").
    session_id: uuid.UUID | None = None
    # Portal actors (role ``patient``): the one patient record they may see.
    patient_id: uuid.UUID | None = None
    # The installation's operator (``users.is_super_admin``): manages clinics, never their data.
    is_super_admin: bool = False
