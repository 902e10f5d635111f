"""``/portal/login`` and ``/portal``: the patient portal (one-time code, own record only)."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert
from pages.components.shell import logo
from state.portal import PortalState


def _frame(*children: rx.Component) -> rx.Component:
    return rx.center(
        rx.flex(
            rx.flex(
                logo("40px"),
                rx.heading("Patient portal", size="6", as_="h1"),
                direction="column",
                align="center",
                spacing="2",
            ),
            *children,
            direction="column",
            spacing="5",
            width="100%",
            max_width="560px",
            padding_x="var(--space-4)",
            padding_y="var(--space-8)",
        ),
        min_height="100vh",
        width="100%",
        background=rx.color("gray", 2),
    )


def _error() -> rx.Component:
    return alert(PortalState.portal_error, testid="portal-error")


def _email_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.text(
                "Enter the email address your clinic has for you. We send you a 6-digit code.",
                size="2",
            ),
            rx.input(
                name="email",
                type="email",
                placeholder="you@example.com",
                auto_complete="email",
                required=True,
                size="3",
                data_testid="portal-email",
            ),
            _error(),
            rx.button("Send me a code", type="submit", size="3", data_testid="portal-send"),
            direction="column",
            spacing="3",
        ),
        on_submit=PortalState.request_code,
        reset_on_submit=False,
    )


def _code_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.callout.root(
                rx.callout.icon(rx.icon("mail", size=16)),
                rx.callout.text(PortalState.portal_message),
                variant="soft",
                size="1",
                data_testid="portal-sent",
            ),
            rx.input(
                name="code",
                placeholder="6-digit code",
                auto_complete="one-time-code",
                input_mode="numeric",
                auto_focus=True,
                required=True,
                size="3",
                data_testid="portal-code",
            ),
            _error(),
            rx.button(
                "Sign in",
                type="submit",
                size="3",
                loading=PortalState.busy,
                data_testid="portal-verify",
            ),
            rx.button(
                "Use another email or send a new code",
                type="button",
                variant="ghost",
                on_click=PortalState.use_other_email,
            ),
            direction="column",
            spacing="3",
        ),
        on_submit=PortalState.verify_code,
        reset_on_submit=True,
    )


def portal_login_page() -> rx.Component:
    return _frame(
        rx.card(rx.cond(PortalState.code_sent, _code_form(), _email_form()), size="4"),
        rx.link("Clinic staff? Sign in here", href="/login", size="2", align="center"),
    )


def _appointment(item: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.text(item["when"], weight="medium", size="2"),
            rx.text(item["provider"], " · ", item["visit_type"], size="1", color_scheme="gray"),
            direction="column",
        ),
        rx.badge(item["status"], variant="soft"),
        justify="between",
        align="center",
        padding_y="var(--space-2)",
        border_top=f"1px solid {rx.color('gray', 4)}",
        data_testid="portal-appointment",
    )


def portal_page() -> rx.Component:
    return _frame(
        rx.card(
            rx.flex(
                rx.flex(
                    rx.flex(
                        rx.heading(PortalState.patient_name, size="5", data_testid="portal-name"),
                        rx.text(
                            PortalState.patient_clinic,
                            " · ",
                            PortalState.mrn,
                            size="2",
                            color_scheme="gray",
                        ),
                        direction="column",
                    ),
                    rx.button(
                        rx.icon("log_out", size=14),
                        "Sign out",
                        variant="soft",
                        color_scheme="gray",
                        on_click=PortalState.portal_sign_out,
                        data_testid="portal-sign-out",
                    ),
                    justify="between",
                    align="center",
                ),
                rx.heading("Upcoming appointments", size="3", as_="h2"),
                rx.cond(
                    PortalState.upcoming.length() > 0,
                    rx.foreach(PortalState.upcoming, _appointment),
                    rx.text("No upcoming appointments.", size="2", color_scheme="gray"),
                ),
                rx.heading("Past visits", size="3", as_="h2"),
                rx.cond(
                    PortalState.past.length() > 0,
                    rx.foreach(PortalState.past, _appointment),
                    rx.text("No past visits yet.", size="2", color_scheme="gray"),
                ),
                direction="column",
                spacing="3",
            ),
            size="4",
        ),
        _prescriptions(),
        _reports(),
        _prescription_dialog(),
    )


def _reports() -> rx.Component:
    """Signed visit reports the doctor shared with the patient."""
    return rx.card(
        rx.flex(
            rx.heading("My visit reports", size="5", as_="h2"),
            alert(PortalState.report_error, testid="portal-report-error"),
            rx.cond(
                PortalState.shared_reports.length() > 0,
                rx.foreach(
                    PortalState.shared_reports,
                    lambda r: rx.flex(
                        rx.flex(
                            rx.text(r["title"], weight="medium"),
                            rx.text(r["signed_at"], size="2", color_scheme="gray"),
                            rx.spacer(),
                            rx.cond(
                                r["has_docx"] != "",
                                rx.button(
                                    "Download",
                                    size="1",
                                    variant="soft",
                                    on_click=PortalState.download_report(r["id"]),
                                ),
                            ),  # fmt: skip
                            spacing="3",
                            align="center",
                        ),
                        rx.text(r["text"], size="2", white_space="pre-wrap"),
                        direction="column",
                        spacing="2",
                        data_testid="portal-report",
                    ),
                ),
                rx.text(
                    "Your doctor has not shared a report with you yet.",
                    size="3",
                    color_scheme="gray",
                ),  # fmt: skip
            ),
            direction="column",
            spacing="3",
        ),
        size="4",
        data_testid="portal-reports",
    )


def _prescription_row(item: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.button(
        rx.flex(
            rx.flex(
                rx.text(item["medicines"], weight="medium", size="3", align="left"),
                rx.text(
                    item["date"],
                    " · ",
                    item["doctor"],
                    " · ",
                    item["number"],
                    size="2",
                    color_scheme="gray",
                    align="left",
                ),  # fmt: skip
                direction="column",
                align="start",
            ),
            rx.badge(item["status_label"], variant="soft", size="2"),
            justify="between",
            align="center",
            width="100%",
            gap="2",
        ),
        variant="ghost",
        height="auto",
        padding_y="var(--space-3)",
        width="100%",
        on_click=PortalState.open_prescription(item["id"]),
        aria_label="Open prescription " + item["number"].to(str),
        data_testid="portal-prescription",
    )


def _prescriptions() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("My prescriptions", size="5", as_="h2"),
            rx.heading("Active", size="3", as_="h3"),
            rx.cond(
                PortalState.active_prescriptions.length() > 0,
                rx.flex(
                    rx.foreach(PortalState.active_prescriptions, _prescription_row),
                    direction="column",
                    spacing="1",
                ),
                rx.text("No active prescriptions.", size="3", color_scheme="gray"),
            ),
            rx.heading("History", size="3", as_="h3"),
            rx.cond(
                PortalState.past_prescriptions.length() > 0,
                rx.flex(
                    rx.foreach(PortalState.past_prescriptions, _prescription_row),
                    direction="column",
                    spacing="1",
                ),
                rx.text("No earlier prescriptions.", size="3", color_scheme="gray"),
            ),
            direction="column",
            spacing="3",
        ),
        size="4",
        data_testid="portal-prescriptions",
    )


def _prescription_item(item: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.text(item["name"], weight="bold", size="4"),
        rx.text(item["plain"], size="3"),
        rx.cond(item["plain_local"].to(str) != "", rx.text(item["plain_local"], size="3")),
        rx.cond(item["instructions"].to(str) != "", rx.text(item["instructions"], size="3")),
        rx.text(
            "Quantity: ",
            item["quantity"],
            " · Refills: ",
            item["refills"],
            size="2",
            color_scheme="gray",
        ),  # fmt: skip
        direction="column",
        spacing="1",
        padding_y="var(--space-2)",
        border_top=f"1px solid {rx.color('gray', 4)}",
    )


def _prescription_dialog() -> rx.Component:
    rx_view = cast("ObjectVar[dict[str, Any]]", PortalState.prescription)
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Prescription ", rx_view["number"].to(str)),
            rx.dialog.description(
                rx_view["status_label"].to(str),
                " · signed ",
                rx_view["signed_at"].to(str),
                " by ",
                rx_view["doctor"].to(str),
                size="3",
            ),  # fmt: skip
            rx.flex(
                rx.foreach(rx_view["items"].to(list[dict[str, str]]), _prescription_item),
                alert(PortalState.prescription_error, testid="portal-rx-error"),
                rx.flex(
                    rx.dialog.close(
                        rx.button("Close", variant="soft", color_scheme="gray", size="3")
                    ),  # fmt: skip
                    rx.button(
                        rx.icon("download", size=16),
                        "Download PDF",
                        size="3",
                        on_click=PortalState.download_prescription,
                        data_testid="portal-rx-pdf",
                    ),
                    justify="end",
                    spacing="2",
                    wrap="wrap",
                ),
                direction="column",
                spacing="3",
                margin_top="var(--space-3)",
            ),
            max_width="560px",
            data_testid="portal-rx-detail",
        ),
        open=PortalState.prescription_open,
        on_open_change=PortalState.prescription_dialog_changed,
    )
