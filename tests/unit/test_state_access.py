"""Access checks driven through Reflex's own event processing (no browser, no server).

Each scenario runs events through ``BaseStateEventProcessor`` — the component the running app
uses to turn websocket messages into handler calls — with an in-memory state manager, the app's
``handle_backend_exception`` and a recorder in place of the websocket. So a "crafted websocket
message" here is exactly what a browser could send: an event name, a payload and a client token.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from reflex.istate.manager.token import BaseStateToken
from reflex.state import BaseState
from reflex_base.event import Event
from reflex_base.event.processor.base_state_processor import BaseStateEventProcessor
from reflex_base.utils.format import format_event_handler
from sqlmodel import col, select
from starlette.testclient import TestClient

import clinic_app.clinic_app  # noqa: F401  (registers the App: page loads run its on_load events)
from clinic_app.api.routes import build_api
from clinic_app.db import session_scope
from clinic_app.security import sessions
from clinic_app.security.sessions import COOKIE_NAME
from clinic_app.services.auth import LOGIN_FAILED_MESSAGE
from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
from models import Appointment, AuditEvent, Clinic, Job, Membership, Patient, User
from state.admin import AdminState
from state.base import AppState, handle_backend_exception
from state.login import LoginState
from state.patients import PatientsState
from state.portal import PortalState
from state.worklist import WorklistState
from tests.async_run import run_async

S = TypeVar("S", bound=BaseState)


class Browser:
    """Stands in for the websocket: records what the server sends to each client token."""

    def __init__(self) -> None:
        self.updates: list[tuple[str, Any]] = []

    async def emit_update(self, update: Any, token: str) -> None:
        self.updates.append((token, update))

    def page_loads(self, token: str) -> list[str]:
        """Full page loads (``window.location.assign``) sent to a tab: sign-in and sign-out."""
        found = []
        for sent_to, update in self.updates:
            if sent_to != token:
                continue
            for event in update.events or []:
                if event.name == "_call_script":
                    code = str(event.payload.get("javascript_code"))
                    match = re.search(r'window\.location\.assign\("([^"]+)"\)', code)
                    if match:
                        found.append(match.group(1))
        return found

    def redirects(self, token: str) -> list[str]:
        return [
            str(event.payload.get("path"))
            for sent_to, update in self.updates
            if sent_to == token
            for event in (update.events or [])
            if event.name == "_redirect"
        ]

    def sent_text(self) -> str:
        return repr([update.delta for _token, update in self.updates])


class App:
    """A running event processor plus helpers to call handlers and read state."""

    def __init__(self, processor: BaseStateEventProcessor, browser: Browser) -> None:
        self.processor = processor
        self.browser = browser
        self.http = TestClient(build_api(), base_url="http://127.0.0.1")
        # The session cookie each tab's websocket handshake carries (the browser's cookie jar).
        self.cookies: dict[str, str] = {}

    def follow_page_load(self, token: str) -> str:
        """Do what the browser does with the last full page load: GET it, keep its cookie."""
        path = self.browser.page_loads(token)[-1]
        response = self.http.get(path, follow_redirects=False)
        assert response.status_code == 303, response.text
        cookie = response.cookies.get(COOKIE_NAME)
        if cookie:
            self.cookies[token] = cookie
        elif 'clinic_session=""' in response.headers.get("set-cookie", ""):
            self.cookies.pop(token, None)
        return str(response.headers["location"])

    async def call(self, token: str, handler: Any, **payload: Any) -> BaseException | None:
        """Send one event as the browser would; wait for it and the events it chained."""
        headers = (
            {"cookie": f"{COOKIE_NAME}={self.cookies[token]}"} if token in self.cookies else {}
        )
        future = await self.processor.enqueue(
            token,
            Event(
                name=format_event_handler(handler),
                payload=payload,
                # A page without on_load events: the first routed event of a tab re-hydrates
                # it (as a reconnecting browser would) and must not add redirects of its own.
                router_data={
                    "headers": headers,
                    "ip": "127.0.0.1",
                    "pathname": "/bench/counter",
                    "asPath": "/bench/counter",
                },
            ),
        )
        error: BaseException | None = None
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=20)
        except Exception as exc:  # noqa: BLE001 - the refusal is what we assert on
            error = exc
        await self.settle()
        return error

    async def settle(self) -> None:
        """Wait until only long-running background watchers are left."""
        for _ in range(400):
            await asyncio.sleep(0.01)
            busy = [
                name
                for task in self.processor._tasks.values()
                if not (name := task.get_name())
                .split("|")[1]
                .endswith(("watch_export", "watch_live"))
            ]
            queue = self.processor._queue
            if not busy and (queue is None or queue.empty()):
                return
        raise AssertionError(f"events did not settle: {self.processor._tasks}")

    async def state(self, token: str, cls: type[S]) -> S:
        manager = self.processor._root_context.state_manager  # type: ignore[union-attr]
        async with manager.modify_state(BaseStateToken(ident=token, cls=cls)) as root:
            return await root.get_state(cls)

    async def sign_in(self, token: str, email: str) -> None:
        error = await self.call(
            token, LoginState.sign_in, form_data={"email": email, "password": DEMO_PASSWORD}
        )
        assert error is None
        login = await self.state(token, LoginState)
        assert login.login_error == ""
        assert self.browser.page_loads(token)[-1].startswith("/auth/session?code=")
        assert self.follow_page_load(token) == "/worklist"
        # The worklist's on_load is the first event with the cookie: it adopts the session.
        assert await self.call(token, WorklistState.load) is None
        assert (await self.state(token, AppState)).signed_in


def run(scenario: Callable[[App], Awaitable[None]]) -> None:
    async def main() -> None:
        browser = Browser()
        processor = BaseStateEventProcessor(
            backend_exception_handler=handle_backend_exception
        ).configure(event_namespace=browser)  # type: ignore[arg-type]
        async with processor:
            await scenario(App(processor, browser))
            await processor.stop(graceful_shutdown_timeout=0)

    run_async(main())


@pytest.fixture
def demo_db(app_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("REFLEX_TELEMETRY_ENABLED", "false")
    with session_scope() as session:
        load_demo_clinic(session)
    yield app_env


def _count_jobs() -> int:
    with session_scope() as session:
        return len(session.exec(select(Job)).all())


def _patient_id(mrn: str = "PAT-2026-00001") -> str:
    with session_scope() as session:
        return str(session.exec(select(Patient).where(Patient.mrn == mrn)).one().id)


def test_not_signed_in_export_is_refused_and_changes_nothing(demo_db: str) -> None:
    async def scenario(app: App) -> None:
        token = "anonymous-tab"
        error = await app.call(token, PatientsState.start_export)
        assert error is not None and getattr(error, "code", "") == "NOT_SIGNED_IN"
        assert app.browser.redirects(token) == ["/login"]
        patients = await app.state(token, PatientsState)
        assert patients.job_status == ""
        assert patients._job_id == ""
        assert not patients.signed_in
        # Even with a patient id sent by hand, selecting is refused too.
        error = await app.call(token, PatientsState.select_patient, patient_id=_patient_id())
        assert error is not None and getattr(error, "code", "") == "NOT_SIGNED_IN"
        assert (await app.state(token, PatientsState)).selected == {}

    run(scenario)
    assert _count_jobs() == 0


def test_not_signed_in_admin_guard_is_refused(demo_db: str) -> None:
    async def scenario(app: App) -> None:
        token = "anonymous-admin"
        error = await app.call(token, AdminState.load)
        assert error is not None and getattr(error, "code", "") == "NOT_SIGNED_IN"
        assert app.browser.redirects(token) == ["/login"]
        admin = await app.state(token, AdminState)
        assert admin.members == []
        assert admin.access != "ok"

    run(scenario)


def test_receptionist_cannot_export_or_open_admin(demo_db: str) -> None:
    async def scenario(app: App) -> None:
        token = "reception-tab"
        await app.sign_in(token, "reception@demo.clinic")
        assert (await app.state(token, AppState)).nav_pages == [
            "calendar",
            "scheduling-setup",
            "worklist",
            "patients",
            "account",
        ]

        assert await app.call(token, PatientsState.select_patient, patient_id=_patient_id()) is None
        patients = await app.state(token, PatientsState)
        assert patients.selected["name"] == "Maria Garcia"
        assert patients.selected["can_export"] is False

        # A crafted export event is refused on the server, with a friendly message.
        error = await app.call(token, PatientsState.start_export)
        assert error is not None and getattr(error, "code", "") == "FORBIDDEN"
        patients = await app.state(token, PatientsState)
        assert patients.job_status == ""
        assert patients.error_message == "You do not have permission to do this."

        # The admin page guard shows the 403 view and loads nothing.
        assert await app.call(token, AdminState.load) is None
        admin = await app.state(token, AdminState)
        assert (admin.access_page, admin.access) == ("admin", "forbidden")
        assert admin.members == []

    run(scenario)
    assert _count_jobs() == 0


def test_doctor_can_export_and_admin_sees_members(demo_db: str) -> None:
    async def scenario(app: App) -> None:
        token = "doctor-tab"
        await app.sign_in(token, "doctor@demo.clinic")
        assert await app.call(token, PatientsState.load) is None
        patients = await app.state(token, PatientsState)
        assert patients.access == "ok"
        assert [p["name"] for p in patients.patients] == [
            "Maria Garcia",
            "John Smith",
            "Aiko Tanaka",
        ]
        assert await app.call(token, PatientsState.select_patient, patient_id=_patient_id()) is None
        assert await app.call(token, PatientsState.start_export) is None
        patients = await app.state(token, PatientsState)
        assert patients.job_status == "queued"
        assert patients._job_id
        assert patients.error_message == ""

        admin_token = "admin-tab"
        await app.sign_in(admin_token, "admin@demo.clinic")
        assert await app.call(admin_token, AdminState.load) is None
        admin = await app.state(admin_token, AdminState)
        assert admin.access == "ok"
        assert len(admin.members) == 5

        # Backend-only vars never reach the browser.
        with session_scope() as session:
            doctor = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
        sent = app.browser.sent_text()
        assert str(doctor.id) not in sent
        assert "_user_id" not in sent and "_job_id" not in sent
        assert DEMO_PASSWORD not in sent

    run(scenario)
    with session_scope() as session:
        (job,) = session.exec(select(Job)).all()
        assert job.kind == "patient_summary_docx"
        assert job.params["patient_id"] == _patient_id()
        assert session.exec(
            select(AuditEvent).where(AuditEvent.action == "patient.export_summary")
        ).one()


def test_patient_of_another_clinic_cannot_be_opened(demo_db: str) -> None:
    with session_scope() as session:
        other = Clinic(name="Other", slug="other")
        session.add(other)
        session.flush()
        stranger = Patient(clinic_id=other.id, mrn="X-1", given_name="Eve", family_name="Other")
        session.add(stranger)
        session.flush()
        stranger_id = str(stranger.id)

    async def scenario(app: App) -> None:
        token = "doctor-crafted"
        await app.sign_in(token, "doctor@demo.clinic")
        error = await app.call(token, PatientsState.select_patient, patient_id=stranger_id)
        assert error is not None and getattr(error, "code", "") == "NOT_FOUND"
        patients = await app.state(token, PatientsState)
        assert patients.selected == {}
        assert patients.error_message == "Patient was not found."
        error = await app.call(token, PatientsState.start_export)
        assert error is None  # nothing selected: nothing to export
        assert (await app.state(token, PatientsState)).job_status == ""

    run(scenario)
    assert _count_jobs() == 0


def test_wrong_password_keeps_the_tab_signed_out(demo_db: str) -> None:
    async def scenario(app: App) -> None:
        token = "typo-tab"
        form = {"email": "doctor@demo.clinic", "password": "wrong"}
        assert await app.call(token, LoginState.sign_in, form_data=form) is None
        login = await app.state(token, LoginState)
        assert not login.signed_in
        assert login.login_error == LOGIN_FAILED_MESSAGE
        assert login.signing_in is False
        assert login._session_key == ""
        print(
            "EVENTS",
            [(e.name, e.payload) for t, u in app.browser.updates for e in (u.events or [])],
        )
        assert app.browser.redirects(token) == []

    run(scenario)
    with session_scope() as session:
        assert session.exec(
            select(AuditEvent).where(AuditEvent.action == "auth.login_failed")
        ).one()


def test_removed_membership_ends_the_session_on_the_next_event(demo_db: str) -> None:
    async def scenario(app: App) -> None:
        token = "doctor-removed"
        await app.sign_in(token, "doctor@demo.clinic")
        with session_scope() as session:
            doctor = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
            membership = session.exec(
                select(Membership).where(col(Membership.user_id) == doctor.id)
            ).one()
            session.delete(membership)
        error = await app.call(token, PatientsState.load)
        assert error is not None and getattr(error, "code", "") == "NOT_SIGNED_IN"
        assert app.browser.redirects(token)[-1] == "/login"
        state = await app.state(token, PatientsState)
        assert not state.signed_in
        assert state._session_key == ""
        assert state.patients == []
        assert state.notice == "Your session has ended. Please sign in again."

    run(scenario)


def test_require_is_the_only_way_in(demo_db: str) -> None:
    """Every handler of the page states checks access, or is on a short list of public ones.

    Staff handlers call ``self._require``/``self._guard_page``; portal handlers
    ``self._require_patient``; the second sign-in step works only on the pending sign-in that
    a correct password created (``self._pending_actor``).
    """
    import inspect

    from state import (
        account,
        audit,
        calendar,
        chart,
        installation,
        portal,
        prescriptions,
        records,
        reports,
        scribe,
        templates,
        worklist,
    )

    session_only = {"sign_out", "end_session", "show_error", "dismiss_error", "go_home"}
    public = {
        "sign_in",
        "cancel_sign_in",
        # Portal sign-in (rate limited and audited in clinic_app.services.portal).
        "load_login",
        "request_code",
        "use_other_email",
    }
    checks = (
        "self._require(",
        "self._guard_page(",
        "self._require_patient(",
        "self._pending_actor(",
        "self._run(",  # PrescriptionsState: one write after its _require
        "await run_live_loop(self,",  # checks the session before it starts and each refresh
    )
    states = [
        AppState,
        LoginState,
        PatientsState,
        AdminState,
        audit.AuditState,
        account.AccountState,
        chart.ChartState,
        portal.PortalState,
        worklist.WorklistState,
        calendar.CalendarState,
        scribe.ScribeState,
        records.RecordsState,
        reports.ReportsState,
        templates.TemplatesState,
        prescriptions.PrescriptionsState,
        installation.InstallationState,
    ]
    for state_cls in states:
        handlers: dict[str, Any] = getattr(state_cls, "event_handlers")  # noqa: B009
        for name, handler in handlers.items():
            if name.startswith(("set_", "setvar")) or name in session_only | public:
                continue
            if state_cls is LoginState and name == "load":
                continue
            source = inspect.getsource(handler.fn)
            if state_cls is portal.PortalState and name == "verify_code":
                assert "portal.verify_code(" in source
                continue
            assert any(check in source for check in checks), (
                f"{state_cls.__name__}.{name} does not check access"
            )


def test_sign_out_wipes_every_page_state(demo_db: str) -> None:
    async def scenario(app: App) -> None:
        token = "shared-tablet"
        await app.sign_in(token, "doctor@demo.clinic")
        assert await app.call(token, PatientsState.load) is None
        assert await app.call(token, PatientsState.select_patient, patient_id=_patient_id()) is None
        assert (await app.state(token, PatientsState)).selected["name"] == "Maria Garcia"

        old_cookie = app.cookies[token]
        assert await app.call(token, AppState.sign_out) is None
        assert app.browser.page_loads(token)[-1] == "/auth/logout"
        assert app.follow_page_load(token) == "/login"
        assert token not in app.cookies
        patients = await app.state(token, PatientsState)
        assert patients.selected == {} and patients._selected_id == ""
        assert patients.patients == []
        assert not patients.signed_in and patients._session_key == ""
        assert patients.notice == "You have signed out."

        # The old cookie is worthless now: the session was revoked in the database.
        replay = "replayed-cookie"
        app.cookies[replay] = old_cookie
        error = await app.call(replay, PatientsState.load)
        assert error is not None and getattr(error, "code", "") == "NOT_SIGNED_IN"

        # The next user of the tab starts clean and only sees what their role allows.
        await app.sign_in(token, "reception@demo.clinic")
        patients = await app.state(token, PatientsState)
        assert patients.selected == {} and patients.role_label == "Receptionist"

    run(scenario)
    with session_scope() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "auth.logout")).one()


# ---- personas × handlers: allowed/denied exactly as the matrix says -----------------------

PAGE_LOADS = [
    ("calendar", "state.calendar", "CalendarState"),
    ("worklist", "state.worklist", "WorklistState"),
    ("patients", "state.patients", "PatientsState"),
    ("chart", "state.chart", "ChartState"),
    ("scribe", "state.scribe", "ScribeState"),
    ("records", "state.records", "RecordsState"),
    ("prescriptions", "state.prescriptions", "PrescriptionsState"),
    ("admin", "state.admin", "AdminState"),
    ("audit", "state.audit", "AuditState"),
    ("account", "state.account", "AccountState"),
    ("system", "state.system", "SystemState"),
    ("installation", "state.installation", "InstallationState"),
    ("scheduling-setup", "state.scheduling_setup", "SchedulingSetupState"),
]
TARGET_EMAIL = "target@demo.clinic"


def _actions_rows() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(state module, class, handler, payload) of writes and reads called with crafted args."""
    return [
        ("state.admin", "AdminState", "change_role", {"email": TARGET_EMAIL, "role": "lab_tech"}),
        ("state.admin", "AdminState", "reset_mfa", {"email": TARGET_EMAIL}),
        ("state.admin", "AdminState", "toggle_mfa_role", {"role": "nurse", "required": False}),
        ("state.audit", "AuditState", "apply_filters", {"form_data": {"action": "auth."}}),
        ("state.audit", "AuditState", "export_csv", {}),
        ("state.patients", "PatientsState", "start_export", {}),
        ("state.system", "SystemState", "retry_job", {"job_id": str(uuid.uuid4())}),
        (
            "state.worklist",
            "WorklistState",
            "advance",
            {"appointment_id": str(uuid.uuid4()), "to_status": "arrived", "version": 1},
        ),
        (
            "state.calendar",
            "CalendarState",
            "move_event",
            {
                "appointment_id": str(uuid.uuid4()),
                "start": "2030-01-07T09:00:00Z",
                "end": "2030-01-07T09:20:00Z",
                "version": 1,
            },
        ),
        (
            "state.calendar",
            "CalendarState",
            "receive_event",
            {
                "provider_id": str(uuid.uuid4()),
                "appointment_id": str(uuid.uuid4()),
                "start": "2030-01-07T09:00:00Z",
                "end": "2030-01-07T09:20:00Z",
                "version": 1,
            },
        ),
        ("state.account", "AccountState", "sign_out_others", {}),
        ("state.chart", "ChartState", "add_allergy", {"form": {"substance": "Latex"}}),
        ("state.patients", "PatientsState", "register", {"form": {"given_name": "A"}}),
        (
            "state.scheduling_setup",
            "SchedulingSetupState",
            "remove_exception",
            {"exception_id": str(uuid.uuid4())},
        ),
    ]


def _permission_of(module: str, cls: str, name: str) -> str:
    """The permission a handler checks, read from its source (one ``_require`` per handler)."""
    import importlib
    import inspect

    state_cls = getattr(importlib.import_module(module), cls)
    source = inspect.getsource(state_cls.event_handlers[name].fn)
    match = re.search(r'self\._require\("([^"]+)"\)', source)
    assert match, f"{cls}.{name} has no literal permission"
    return match.group(1)


def _add_personas() -> None:
    from clinic_app.security.passwords import hash_password

    with session_scope() as session:
        demo = session.exec(select(Clinic).where(Clinic.slug == "demo")).one()
        other = Clinic(name="Clinic B", slug="clinic-b")
        session.add(other)
        session.flush()
        password = hash_password(DEMO_PASSWORD)
        for email, clinic, role in (
            ("doctor@b.clinic", other, "doctor"),
            (TARGET_EMAIL, demo, "nurse"),
        ):
            user = User(email=email, full_name=email, password_hash=password)
            session.add(user)
            session.flush()
            session.add(Membership(user_id=user.id, clinic_id=clinic.id, role=role))


STAFF_PERSONAS = [
    ("reception@demo.clinic", "receptionist"),
    ("doctor@demo.clinic", "doctor"),
    ("nurse@demo.clinic", "nurse"),
    ("admin@demo.clinic", "clinic_admin"),
    ("doctor@b.clinic", "doctor"),
]


def _denied_count() -> int:
    with session_scope() as session:
        return len(
            session.exec(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
        )


def test_every_persona_gets_exactly_what_the_matrix_allows(demo_db: str) -> None:
    import importlib

    from clinic_app.security.permissions import MATRIX
    from state.base import PAGE_PERMISSIONS

    _add_personas()
    decisions: list[tuple[str, str, str]] = []

    async def scenario(app: App) -> None:
        for email, role in STAFF_PERSONAS:
            token = f"persona-{email}"
            await app.sign_in(token, email)
            for page, module, cls in PAGE_LOADS:
                state_cls = getattr(importlib.import_module(module), cls)
                before = _denied_count()
                assert await app.call(token, state_cls.load) is None
                state = await app.state(token, state_cls)
                allowed = role in MATRIX[PAGE_PERMISSIONS[page]]
                assert state.access == ("ok" if allowed else "forbidden"), (email, page)
                assert _denied_count() == before + (0 if allowed else 1), (email, page)
                decisions.append((email, page, state.access))
            for module, cls, name, payload in _actions_rows():
                state_cls = getattr(importlib.import_module(module), cls)
                permission = _permission_of(module, cls, name)
                before = _denied_count()
                error = await app.call(token, getattr(state_cls, name), **payload)
                code = getattr(error, "code", "") if error is not None else ""
                if role in MATRIX[permission]:
                    assert code not in {"FORBIDDEN", "NOT_SIGNED_IN"}, (email, name, error)
                else:
                    assert code == "FORBIDDEN", (email, name, error)
                    assert _denied_count() == before + 1, (email, name)

        # The portal patient: no staff handler accepts a patient session.
        with session_scope() as session:
            maria = session.exec(select(User).where(User.email == "maria@demo.patient")).one()
            membership = session.exec(
                select(Membership).where(Membership.user_id == maria.id)
            ).one()
            code = sessions.begin(
                session, user_id=maria.id, clinic_id=membership.clinic_id, kind="patient"
            )
        token = "persona-patient"
        response = app.http.get(f"/auth/session?code={code}", follow_redirects=False)
        assert response.headers["location"] == "/portal"
        app.cookies[token] = str(response.cookies.get(COOKIE_NAME))
        for module, cls, name, payload in _actions_rows():
            state_cls = getattr(importlib.import_module(module), cls)
            error = await app.call(token, getattr(state_cls, name), **payload)
            assert getattr(error, "code", "") == "NOT_SIGNED_IN", name
        assert await app.call(token, PortalState.load) is None
        portal_state = await app.state(token, PortalState)
        assert portal_state.patient_name == "Maria Garcia" and portal_state.mrn == "PAT-2026-00001"

    run(scenario)
    # Denied calls changed nothing: the target keeps the role only an admin could change.
    with session_scope() as session:
        target = session.exec(select(User).where(User.email == TARGET_EMAIL)).one()
        membership = session.exec(select(Membership).where(Membership.user_id == target.id)).one()
        assert membership.role == "lab_tech"  # changed once, by the demo clinic's admin
        changes = session.exec(
            select(AuditEvent).where(AuditEvent.action == "user.role_change")
        ).all()
        assert len(changes) == 1
    # Clinic B's doctor sees clinic pages of their own (empty) clinic only.
    assert ("doctor@b.clinic", "admin", "forbidden") in decisions


def test_doctor_of_another_clinic_gets_not_found_for_guessed_ids(demo_db: str) -> None:
    _add_personas()

    async def scenario(app: App) -> None:
        token = "clinic-b-doctor"
        await app.sign_in(token, "doctor@b.clinic")
        error = await app.call(token, PatientsState.select_patient, patient_id=_patient_id())
        assert getattr(error, "code", "") == "NOT_FOUND"
        assert (await app.state(token, PatientsState)).selected == {}
        with session_scope() as session:
            appointment = session.exec(select(Appointment)).first()
            assert appointment is not None
            appointment_id = str(appointment.id)
        error = await app.call(
            token,
            WorklistState.advance,
            appointment_id=appointment_id,
            to_status="arrived",
            version=1,
        )
        assert error is None  # the worklist shows the refusal in the page
        worklist = await app.state(token, WorklistState)
        assert worklist.error_message == "Appointment was not found."
        assert await app.call(token, PatientsState.load) is None
        assert (await app.state(token, PatientsState)).patients == []

    run(scenario)
    with session_scope() as session:
        assert all(a.status == "scheduled" for a in session.exec(select(Appointment)).all())


def _every_guarded_handler() -> list[tuple[type, str, str, dict[str, Any]]]:
    """(state, handler, permission, crafted payload) for every handler with a literal check."""
    import inspect
    import typing

    from state import (
        account,
        admin,
        audit,
        calendar,
        chart,
        installation,
        patients,
        prescriptions,
        records,
        scheduling_setup,
        scribe,
        system,
        worklist,
    )

    modules = (account, admin, audit, calendar, chart, patients, prescriptions, records, scribe)
    modules += (system, worklist, installation, scheduling_setup)
    found = []
    for module in modules:
        for state_cls in vars(module).values():
            if not (isinstance(state_cls, type) and issubclass(state_cls, AppState)):
                continue
            if state_cls.__module__ != module.__name__:
                continue
            handlers: dict[str, Any] = getattr(state_cls, "event_handlers")  # noqa: B009
            for name, handler in handlers.items():
                if name.startswith(("set_", "setvar", "watch")):
                    continue
                source = inspect.getsource(handler.fn)
                # ``_run`` (prescriptions) is ``_require`` followed by one service call.
                match = re.search(r'self\._(?:require|run)\(\s*"([^"]+)"', source)
                if not match or "self._guard_page(" in source:
                    continue  # page guards: covered page by page above
                hints = typing.get_type_hints(handler.fn)
                payload: dict[str, Any] = {}
                for param in list(inspect.signature(handler.fn).parameters.values())[1:]:
                    if param.default is not inspect.Parameter.empty:
                        continue
                    kind = hints.get(param.name, str)
                    origin = typing.get_origin(kind) or kind
                    payload[param.name] = {int: 1, bool: True, dict: {}, list: []}.get(
                        origin, str(uuid.uuid4())
                    )
                found.append((state_cls, name, match.group(1), payload))
    return found


def test_every_handler_refuses_every_role_the_matrix_does_not_allow(demo_db: str) -> None:
    """A crafted event for each handler, as each persona: refused (and audited) exactly where the
    matrix says so; a patient's portal session opens no staff handler at all."""
    from clinic_app.security.permissions import MATRIX

    handlers = _every_guarded_handler()
    assert len(handlers) > 40  # the sweep really found the app's handlers
    _add_personas()

    async def scenario(app: App) -> None:
        refused = 0
        for email, role in STAFF_PERSONAS[:4]:
            token = f"sweep-{email}"
            await app.sign_in(token, email)
            for state_cls, name, permission, payload in handlers:
                if role in MATRIX[permission]:
                    continue  # allowed calls with made-up arguments are the other tests' job
                before = _denied_count()
                error = await app.call(token, getattr(state_cls, name), **payload)
                assert getattr(error, "code", "") == "FORBIDDEN", (email, state_cls, name, error)
                assert _denied_count() == before + 1, (email, name)
                refused += 1
        assert refused > 30  # receptionists, nurses and doctors are refused plenty
        with session_scope() as session:
            maria = session.exec(select(User).where(User.email == "maria@demo.patient")).one()
            membership = session.exec(
                select(Membership).where(Membership.user_id == maria.id)
            ).one()
            code = sessions.begin(
                session, user_id=maria.id, clinic_id=membership.clinic_id, kind="patient"
            )
        token = "sweep-patient"
        response = app.http.get(f"/auth/session?code={code}", follow_redirects=False)
        app.cookies[token] = str(response.cookies.get(COOKIE_NAME))
        for state_cls, name, _permission, payload in handlers:
            error = await app.call(token, getattr(state_cls, name), **payload)
            assert getattr(error, "code", "") == "NOT_SIGNED_IN", (state_cls, name, error)

    run(scenario)
