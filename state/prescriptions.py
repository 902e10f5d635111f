"""Prescriptions page state: the queue, a patient's prescriptions, the builder and signing.

``/prescriptions`` lists the doctor's own (or, for a pharmacist, those to dispense);
``?patient=<id>`` shows one patient's (break-glass when there is no care relationship);
``?rx=<id>`` opens one prescription: the builder while it is a draft, the record after.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import reflex as rx
from reflex.event import EventSpec
from sqlmodel import Session

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import dosing, medication_catalog, prescriptions
from clinic_app.services.prescriptions import ItemInput
from state.base import AppState

DOCUMENT_WAIT_SECONDS = 60


class PrescriptionsState(AppState):
    mode: rx.Field[str] = rx.field("queue")  # queue | patient | rx | glass | missing
    queue: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    queue_status: rx.Field[str] = rx.field("")
    patient_list: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    patient_label: rx.Field[str] = rx.field("")
    can_prescribe: rx.Field[bool] = rx.field(False)
    view: rx.Field[dict[str, Any]] = rx.field(default_factory=dict)
    items: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    warnings: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    allergies: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    problems: rx.Field[list[str]] = rx.field(default_factory=list)
    acknowledgements: rx.Field[dict[str, str]] = rx.field(default_factory=dict)
    acknowledged: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    flags: rx.Field[dict[str, bool]] = rx.field(default_factory=dict)
    page_error: rx.Field[str] = rx.field("")
    page_notice: rx.Field[str] = rx.field("")
    # Item editor: type-ahead over the catalog.
    med_query: rx.Field[str] = rx.field("")
    med_results: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    med_label: rx.Field[str] = rx.field("")
    med_id: rx.Field[str] = rx.field("")
    frequency: rx.Field[str] = rx.field("1-1-1")
    item_error: rx.Field[str] = rx.field("")
    # Signing: the step-up dialog.
    sign_open: rx.Field[bool] = rx.field(False)
    sign_error: rx.Field[str] = rx.field("")
    signing: rx.Field[bool] = rx.field(False)
    documents_pending: rx.Field[bool] = rx.field(False)
    # Catalog (admins and pharmacists).
    catalog_message: rx.Field[str] = rx.field("")
    catalog_error: rx.Field[str] = rx.field("")
    _rx_id: str = ""
    _patient_id: str = ""
    # One key per page visit: a double click on "New prescription" makes one draft.
    _new_key: str = ""
    _version: int = 0

    @rx.var
    def frequency_is_prn(self) -> bool:
        return self.frequency == "prn"

    @rx.var
    def can_manage_catalog(self) -> bool:
        return self.user_role in ("clinic_admin", "pharmacist")

    # ---- loading ---------------------------------------------------------------------------

    @rx.event
    def load(self) -> EventSpec | None:
        actor = self._guard_page("prescriptions")
        if actor is None:
            return None
        params = self.router.page.params
        self._rx_id = str(params.get("rx") or "")[:64]
        self._patient_id = str(params.get("patient") or "")[:64]
        self.page_error = self.page_notice = self.item_error = ""
        self.catalog_message = self.catalog_error = ""
        self.sign_open = False
        self._new_key = uuid.uuid4().hex
        self._clear_item()
        self._refresh(actor)
        return PrescriptionsState.watch_documents if self.documents_pending else None

    def _refresh(self, actor: Actor) -> None:
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                if self._rx_id:
                    self._show_prescription(session, actor)
                elif self._patient_id:
                    self._show_patient(session, actor)
                else:
                    self.mode = "queue"
                    self.queue = prescriptions.queue(session, actor=actor, status=self.queue_status)
        except AppError as exc:
            if exc.code == "BREAK_GLASS_REQUIRED":
                self.mode = "glass"
                self.page_error = ""
                return
            if exc.code != "NOT_FOUND":
                raise
            self.mode = "missing"

    def _show_prescription(self, session: Session, actor: Actor) -> None:
        data = prescriptions.editor(session, actor=actor, prescription_id=self._rx_id)
        self._patient_id = str(data["patient_id"])
        self._version = int(data.pop("version"))
        self.items = data.pop("items")
        found = data.pop("warnings")
        self.warnings = found
        self.acknowledgements = {w["key"]: self.acknowledgements.get(w["key"], "") for w in found}
        self.allergies = data.pop("allergies")
        self.problems = data.pop("problems")
        self.flags = {k: bool(data.pop(k)) for k in list(data) if k.startswith("can_")}
        self.acknowledged = data.pop("acknowledgements")
        # File ids stay on the server: the browser asks for a short-lived link instead.
        pdf_file_id = data.pop("pdf_file_id")
        data.pop("docx_file_id")
        self.view = data
        self.documents_pending = data["status"] != "draft" and not pdf_file_id
        self.mode = "rx"

    def _show_patient(self, session: Session, actor: Actor) -> None:
        # Writing a new prescription needs no break-glass (it opens a visit); the history does.
        self.can_prescribe = actor.role == "doctor"
        self.patient_label = prescriptions.patient_label(
            session, actor=actor, patient_id=self._patient_id
        )
        self.patient_list = prescriptions.for_patient(
            session, actor=actor, patient_id=self._patient_id
        )
        self.mode = "patient"

    def _run(self, permission: str, action: Callable[[Session, Actor], object]) -> bool:
        """One write; a refusal of the input shows in the page, nothing typed is lost."""
        actor = self._require(permission)
        self.page_error = ""
        try:
            with session_scope(clinic_id=actor.clinic_id, immediate=True) as session:
                action(session, actor)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.page_error = exc.message
            if exc.code == "VERSION_CONFLICT":
                self._refresh(actor)
            return False
        self._refresh(actor)
        return True

    @rx.event
    def filter_queue(self, status: str) -> None:
        actor = self._require("prescription:read")
        self.queue_status = status if status in prescriptions.STATUS_LABELS else ""
        self._refresh(actor)

    # ---- break-glass and new prescriptions --------------------------------------------------

    @rx.event
    def break_glass(self, form: dict[str, Any]) -> None:
        self._run(
            "prescription:break_glass",
            lambda session, actor: prescriptions.break_glass(
                session,
                actor=actor,
                patient_id=self._patient_id,
                reason=str(form.get("reason") or "")[:500],
            ),
        )

    @rx.event
    def new_prescription(self) -> EventSpec | None:
        actor = self._require("prescription:create")
        key = self._new_key
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                rx_id = prescriptions.start(
                    session, actor=actor, patient_id=self._patient_id, idempotency_key=key
                )
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.page_error = exc.message
            return None
        return rx.redirect(f"/prescriptions?rx={rx_id}")

    # ---- the builder -----------------------------------------------------------------------

    def _clear_item(self) -> None:
        self.med_query = self.med_label = self.med_id = ""
        self.med_results = []
        self.frequency = "1-1-1"

    @rx.event
    def search_medications(self, query: str) -> None:
        actor = self._require("catalog:read")
        self.med_query = str(query)[:80]
        with session_scope(clinic_id=actor.clinic_id) as session:
            self.med_results = medication_catalog.search(session, actor=actor, query=self.med_query)

    @rx.event
    def pick_medication(self, medication_id: str, label: str) -> None:
        self._require("catalog:read")
        self.med_id = str(medication_id)[:64]
        self.med_label = str(label)[:200]
        self.med_results = []
        self.med_query = ""

    @rx.event
    def set_frequency(self, value: str) -> None:
        self._require("prescription:create")
        self.frequency = str(value)[:16]

    @rx.event
    def add_item(self, form: dict[str, Any]) -> EventSpec | None:
        if not self.med_id:
            self._require("prescription:create")
            self.item_error = "Choose a medicine from the catalog first."
            return None
        item = ItemInput(
            medication_id=self.med_id,
            dose=str(form.get("dose") or "")[:20],
            dose_unit=str(form.get("dose_unit") or "")[:20],
            frequency=self.frequency,
            duration_days=str(form.get("duration_days") or "")[:6],
            max_per_day=str(form.get("max_per_day") or "")[:4],
            quantity=str(form.get("quantity") or "")[:6],
            refills=str(form.get("refills") or "0")[:3],
            instructions=str(form.get("instructions") or "")[:500],
        )
        ok = self._run(
            "prescription:create",
            lambda session, actor: prescriptions.add_item(
                session, actor=actor, prescription_id=self._rx_id, version=self._version, item=item
            ),
        )
        self.item_error, self.page_error = ("", "") if ok else (self.page_error, "")
        if not ok:
            return None  # the form keeps what was typed
        self._clear_item()
        return rx.call_script("document.getElementById('rx-item-form')?.reset()")

    @rx.event
    def remove_item(self, index: int) -> None:
        self._run(
            "prescription:create",
            lambda session, actor: prescriptions.remove_item(
                session,
                actor=actor,
                prescription_id=self._rx_id,
                version=self._version,
                index=int(index),
            ),
        )

    @rx.event
    def save_notes(self, form: dict[str, Any]) -> None:
        if self._run(
            "prescription:create",
            lambda session, actor: prescriptions.save_notes(
                session,
                actor=actor,
                prescription_id=self._rx_id,
                version=self._version,
                diagnosis=str(form.get("diagnosis") or "")[:300],
                pharmacist_notes=str(form.get("pharmacist_notes") or "")[:1000],
            ),
        ):
            self.page_notice = "Draft saved."

    @rx.event
    def set_acknowledgement(self, key: str, reason: str) -> None:
        self._require("prescription:sign")
        if key in self.acknowledgements:
            self.acknowledgements = {**self.acknowledgements, key: str(reason)[:300]}

    # ---- signing with step-up ---------------------------------------------------------------

    @rx.event
    def open_sign(self) -> None:
        self._require("prescription:sign")
        missing = [k for k, v in self.acknowledgements.items() if len(v.strip()) < 3]
        if missing:
            self.page_error = "Give a reason for each warning before signing."
            return
        self.page_error = ""
        self.sign_error = ""
        self.sign_open = True

    @rx.event
    def sign_dialog_changed(self, is_open: bool) -> None:
        """Escape or a click outside closes the dialog; nothing is signed."""
        self._require("prescription:sign")
        if not is_open:
            self.sign_open = False
            self.sign_error = ""

    @rx.event
    async def confirm_sign(self, form: dict[str, Any]) -> AsyncIterator[EventSpec | None]:
        """Re-authenticate (password or authenticator code), then sign in one step."""
        actor = self._require("prescription:sign")
        self.sign_error = ""
        self.signing = True
        yield None
        try:
            refused = self._step_up_then(
                actor,
                form,
                lambda session: prescriptions.sign(
                    session,
                    actor=actor,
                    prescription_id=self._rx_id,
                    version=self._version,
                    acknowledgements=dict(self.acknowledgements),
                ),
            )
        finally:
            self.signing = False
        if refused is not None:
            self.sign_error = refused.message
            if refused.code in ("VERSION_CONFLICT", "WARNINGS_NOT_ACKNOWLEDGED"):
                self._refresh(actor)
            return
        self.sign_open = False
        self.page_notice = "Signed. The printable copy is being prepared."
        self._refresh(actor)
        yield PrescriptionsState.watch_documents

    @rx.event(background=True)
    async def watch_documents(self) -> None:
        """After signing, show the PDF/DOCX links as soon as the worker has made them."""
        for _ in range(DOCUMENT_WAIT_SECONDS):
            await asyncio.sleep(1)
            async with self:
                if not self.documents_pending or self.mode != "rx":
                    return
                actor = self._require("prescription:read")
                self._refresh(actor)

    @rx.event
    def open_document(self, kind: str) -> EventSpec | None:
        actor = self._require("prescription:read")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                url = prescriptions.document_link(
                    session, actor=actor, prescription_id=self._rx_id, kind=str(kind)
                )
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.page_error = exc.message
            return None
        return rx.redirect(url, is_external=True)

    # ---- after signing ----------------------------------------------------------------------

    @rx.event
    def change(self) -> EventSpec | None:
        actor = self._require("prescription:create")
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                new_id = prescriptions.revise(session, actor=actor, prescription_id=self._rx_id)
        except AppError as exc:
            if exc.code in ("FORBIDDEN", "NOT_FOUND"):
                raise
            self.page_error = exc.message
            return None
        return rx.redirect(f"/prescriptions?rx={new_id}")

    @rx.event
    def cancel(self, form: dict[str, Any]) -> None:
        if self._run(
            "prescription:create",
            lambda session, actor: prescriptions.cancel(
                session,
                actor=actor,
                prescription_id=self._rx_id,
                reason=str(form.get("reason") or "")[:300],
            ),
        ):
            self.page_notice = "Prescription cancelled."

    @rx.event
    def discard(self) -> None:
        if self._run(
            "prescription:create",
            lambda session, actor: prescriptions.cancel(
                session, actor=actor, prescription_id=self._rx_id, reason="Draft discarded"
            ),
        ):
            self.page_notice = "Draft discarded."

    @rx.event
    def dispense(self) -> None:
        if self._run(
            "prescription:dispense",
            lambda session, actor: prescriptions.dispense(
                session, actor=actor, prescription_id=self._rx_id
            ),
        ):
            self.page_notice = "Marked as dispensed."

    @rx.event
    def complete(self) -> None:
        self._run(
            "prescription:read",
            lambda session, actor: prescriptions.complete(
                session, actor=actor, prescription_id=self._rx_id
            ),
        )

    # ---- catalog ----------------------------------------------------------------------------

    @rx.event
    def add_catalog_item(self, form: dict[str, Any]) -> None:
        actor = self._require("catalog:manage")
        self.catalog_error = self.catalog_message = ""
        row = {k: str(form.get(k) or "")[:300] for k in medication_catalog.COLUMNS}
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                medication_catalog.add_local_item(session, actor=actor, row=row)
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.catalog_error = exc.message
            return
        self.catalog_message = f"Added {row['generic_name']} to your clinic's catalog."

    @rx.event
    def import_catalog(self, form: dict[str, Any]) -> None:
        actor = self._require("catalog:manage")
        self.catalog_error = self.catalog_message = ""
        text = str(form.get("csv") or "")[:2_000_000]
        try:
            with session_scope(clinic_id=actor.clinic_id) as session:
                report = medication_catalog.import_for_clinic(session, actor=actor, text=text)
        except AppError as exc:
            if exc.code == "FORBIDDEN":
                raise
            self.catalog_error = exc.message
            return
        rejected = "; ".join(f"line {n}: {why}" for n, why in report.rejected[:10])
        self.catalog_message = (
            f"Imported: {report.added} added, {report.updated} updated, "
            f"{len(report.rejected)} rejected" + (f" ({rejected})" if rejected else "") + "."
        )


# The builder's choices, for the page (pages import states, not services).
FREQUENCY_CHOICES = dosing.FREQUENCY_CHOICES
DOSE_UNITS = dosing.DOSE_UNITS
