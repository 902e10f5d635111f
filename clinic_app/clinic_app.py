"""The Reflex app: registers pages and HTTP routes, nothing else."""

import reflex as rx
from reflex_base.components.component import ComponentStyle

from clinic_app.api.reflex_hooks import install_reflex_hooks
from clinic_app.api.routes import build_api
from clinic_app.observability import configure_logging, register_shared_collector
from pages.account import account_page
from pages.admin import admin_page
from pages.audit import audit_page
from pages.bench_counter import bench_counter_page
from pages.calendar import calendar_page
from pages.chart import chart_page
from pages.index import index_page
from pages.installation import installation_page
from pages.login import login_page
from pages.patients import patients_page
from pages.portal import portal_login_page, portal_page
from pages.prescriptions import prescriptions_page
from pages.records import records_page
from pages.reports import reports_page
from pages.scheduling_setup import scheduling_setup_page
from pages.scribe import scribe_page
from pages.system import system_page
from pages.templates import templates_page
from pages.verify import verify_page
from pages.worklist import worklist_page
from state.account import AccountState
from state.admin import AdminState
from state.audit import AuditState
from state.base import AppState, handle_backend_exception, watch_dependencies
from state.calendar import CalendarState
from state.chart import ChartState
from state.installation import InstallationState
from state.login import LoginState
from state.patients import PatientsState
from state.portal import PortalState
from state.prescriptions import PrescriptionsState
from state.records import RecordsState
from state.reports import ReportsState
from state.scheduling_setup import SchedulingSetupState
from state.scribe import ScribeState
from state.system import SystemState
from state.templates import TemplatesState
from state.verify import VerifyState
from state.worklist import WorklistState

STYLE: ComponentStyle = {
    # Style lists use the same breakpoints as Radix props: xs 520, sm 768, md 1024, lg 1280.
    "breakpoints": ["520px", "768px", "1024px", "1280px", "1640px"],
    "font_family": (
        "Inter, ui-sans-serif, system-ui, -apple-system, 'Segoe UI', Roboto, "
        "'Helvetica Neue', Arial, sans-serif"
    ),
    "-webkit-font-smoothing": "antialiased",
}

app = rx.App(
    style=STYLE,
    api_transformer=build_api(),
    backend_exception_handler=handle_backend_exception,
    head_components=[rx.el.link(rel="icon", href="/favicon.svg", type="image/svg+xml")],
)


def _websocket_clients() -> int:
    namespace = app.event_namespace
    return len(namespace.token_to_sid) if namespace is not None else 0


configure_logging()
install_reflex_hooks()
register_shared_collector(websocket_clients=_websocket_clients)
app.register_lifespan_task(watch_dependencies)

# Every signed-in page: its guard (which also shows the dependency banner).
PAGES = (
    ("/worklist", "Worklist", worklist_page, WorklistState.load),
    ("/calendar", "Calendar", calendar_page, CalendarState.load),
    ("/scheduling-setup", "Scheduling setup", scheduling_setup_page, SchedulingSetupState.load),
    ("/patients", "Patients", patients_page, PatientsState.load),
    ("/chart", "Chart", chart_page, ChartState.load),
    ("/scribe", "Scribe", scribe_page, ScribeState.load),
    ("/reports", "Reports", reports_page, ReportsState.load),
    ("/templates", "Report templates", templates_page, TemplatesState.load),
    ("/records", "Records", records_page, RecordsState.load),
    ("/prescriptions", "Prescriptions", prescriptions_page, PrescriptionsState.load),
    ("/admin", "Admin", admin_page, AdminState.load),
    ("/audit", "Audit log", audit_page, AuditState.load),
    ("/account", "My account", account_page, AccountState.load),
    ("/system", "System", system_page, SystemState.load),
    ("/installation", "Installation", installation_page, InstallationState.load),
)
for route, title, component, guard in PAGES:
    app.add_page(
        component,
        route=route,
        title=f"{title} · Clinic",
        on_load=guard,
    )
app.add_page(
    login_page,
    route="/login",
    title="Sign in · Clinic",
    on_load=LoginState.load,
)
app.add_page(
    portal_login_page,
    route="/portal/login",
    title="Patient portal · Clinic",
    on_load=PortalState.load_login,
)
app.add_page(portal_page, route="/portal", title="My record · Clinic", on_load=PortalState.load)
app.add_page(index_page, route="/", title="Clinic", on_load=AppState.go_home)
# Public: the QR code of a printed prescription opens this (no sign-in, no patient data).
app.add_page(verify_page, route="/verify", title="Prescription check", on_load=VerifyState.load)
# The blank counter page of the event round-trip benchmark (no data, no login).
app.add_page(bench_counter_page, route="/bench/counter", title="Benchmark · Clinic")
