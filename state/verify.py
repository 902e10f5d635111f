"""``/verify``: the public check behind a printed prescription's QR code (no sign-in)."""

from __future__ import annotations

import reflex as rx
from sqlalchemy.exc import SQLAlchemyError

from clinic_app.db import session_scope
from clinic_app.services import prescription_documents
from state.base import DATABASE_DOWN


class VerifyState(rx.State):
    result: rx.Field[dict[str, str]] = rx.field(default_factory=dict)

    @rx.event
    def load(self) -> None:
        token = str(self.router.page.params.get("t") or "")[:4096]
        try:
            with session_scope() as session:
                self.result = prescription_documents.verify(session, token=token)
        except SQLAlchemyError:
            self.result = {"state": "error", "title": "Try again", "detail": DATABASE_DOWN}
