"""``/portal/login`` and ``/portal``: the patient portal (one-time code, own record only)."""

from __future__ import annotations

from typing import Any

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
                rx.text(
                    "Your prescriptions will appear here once your doctor signs them.",
                    size="1",
                    color_scheme="gray",
                ),
                direction="column",
                spacing="3",
            ),
            size="4",
        ),
    )
