"""``/login``: email and password; the demo logins are listed under the form."""

from __future__ import annotations

import reflex as rx

from clinic_app.services.auth import ROLE_LABELS
from clinic_app.services.demo import DEMO_PASSWORD, demo_logins
from pages.components.feedback import alert, dependency_banner
from pages.components.shell import logo
from state.login import LoginState


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.flex(
        rx.text(label, as_="label", size="2", weight="medium", html_for=control.id),
        control,
        direction="column",
        spacing="1",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.form(
        rx.flex(
            _field(
                "Email",
                rx.input(
                    id="email",
                    name="email",
                    type="email",
                    placeholder="you@clinic.example",
                    auto_complete="username",
                    auto_focus=True,
                    required=True,
                    read_only=~LoginState.is_hydrated,
                    size="3",
                    data_testid="login-email",
                ),
            ),
            _field(
                "Password",
                rx.input(
                    id="password",
                    name="password",
                    type="password",
                    auto_complete="current-password",
                    required=True,
                    read_only=~LoginState.is_hydrated,
                    size="3",
                    data_testid="login-password",
                ),
            ),
            _error(),
            rx.button(
                "Sign in",
                type="submit",
                size="3",
                width="100%",
                loading=LoginState.signing_in,
                # Until React takes over, Enter would submit the prerendered form natively,
                # putting the password in the URL.
                disabled=LoginState.signing_in | ~LoginState.is_hydrated,
                data_testid="login-submit",
            ),
            direction="column",
            spacing="4",
        ),
        on_submit=LoginState.sign_in,
        reset_on_submit=False,
        width="100%",
    )


def _error() -> rx.Component:
    return alert(LoginState.login_error, testid="login-error")


def _code_form(on_submit: rx.EventHandler, button: str, hint: str) -> rx.Component:
    return rx.form(
        rx.flex(
            _field(
                "Authentication code",
                rx.input(
                    id="code",
                    name="code",
                    placeholder="123 456",
                    auto_complete="one-time-code",
                    input_mode="numeric",
                    auto_focus=True,
                    required=True,
                    size="3",
                    data_testid="login-code",
                ),
            ),
            rx.text(hint, size="1", color_scheme="gray"),
            _error(),
            rx.button(
                button,
                type="submit",
                size="3",
                width="100%",
                loading=LoginState.signing_in,
                disabled=LoginState.signing_in,
                data_testid="login-code-submit",
            ),
            rx.button(
                "Back",
                type="button",
                variant="ghost",
                size="2",
                on_click=LoginState.cancel_sign_in,
                data_testid="login-back",
            ),
            direction="column",
            spacing="3",
        ),
        on_submit=on_submit,
        reset_on_submit=True,
        width="100%",
    )


def _totp_step() -> rx.Component:
    return rx.flex(
        rx.heading("Two-step verification", size="4", as_="h2"),
        rx.text(
            "Open your authenticator app and enter the current code for Clinic.",
            size="2",
            color_scheme="gray",
        ),
        _code_form(
            LoginState.verify_code,
            "Verify",
            "Lost your phone? Enter one of your recovery codes instead.",
        ),
        direction="column",
        spacing="3",
    )


def _enrol_step() -> rx.Component:
    return rx.flex(
        rx.heading("Set up two-step verification", size="4", as_="h2"),
        rx.text(
            "Your clinic requires an authenticator app for your role. Scan this code with an app "
            "such as FreeOTP, Aegis or Google Authenticator, then enter the code it shows.",
            size="2",
            color_scheme="gray",
        ),
        rx.center(
            rx.image(
                src=LoginState.enrol_qr,
                alt="QR code for your authenticator app",
                width="180px",
                height="180px",
                data_testid="enrol-qr",
            ),
        ),
        rx.text(
            "Can't scan? Enter this key: ",
            rx.code(LoginState.enrol_secret, data_testid="enrol-secret", word_break="break-all"),
            size="1",
            color_scheme="gray",
        ),
        _code_form(LoginState.confirm_enrolment, "Turn on", "The code changes every 30 seconds."),
        direction="column",
        spacing="3",
    )


def _recovery_step() -> rx.Component:
    return rx.flex(
        rx.heading("Save your recovery codes", size="4", as_="h2"),
        rx.text(
            "Each code signs you in once if you lose your phone. Print them or keep them in a "
            "password manager; they will not be shown again.",
            size="2",
            color_scheme="gray",
        ),
        rx.grid(
            rx.foreach(
                LoginState.recovery_codes,
                lambda code: rx.code(code, size="3", variant="soft"),
            ),
            columns="2",
            spacing="2",
            data_testid="recovery-codes",
        ),
        rx.button(
            "I have saved them — continue",
            size="3",
            width="100%",
            on_click=LoginState.finish_enrolment,
            data_testid="recovery-continue",
        ),
        direction="column",
        spacing="3",
    )


def _demo_row(email: str, role: str) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.text(email, size="2", weight="medium", font_family="var(--code-font-family)"),
            rx.text(ROLE_LABELS.get(role, role), size="1", color_scheme="gray"),
            direction="column",
            spacing="0",
            min_width="0",
        ),
        rx.button(
            "Use",
            size="1",
            variant="soft",
            type="button",
            on_click=[
                rx.set_value("email", email),
                rx.set_value("password", DEMO_PASSWORD),
                rx.set_focus("password"),
            ],
            aria_label=f"Fill in the {ROLE_LABELS.get(role, role)} demo login",
            data_testid=f"demo-login-{role}",
        ),
        justify="between",
        align="center",
        spacing="3",
        padding_y="var(--space-2)",
        border_top=f"1px solid {rx.color('gray', 4)}",
    )


def _demo_logins() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.icon("info", size=16, color=rx.color("accent", 10)),
                rx.text("Demo installation", size="2", weight="bold"),
                align="center",
                spacing="2",
            ),
            rx.text(
                "Every demo user has the password ",
                rx.code(DEMO_PASSWORD, variant="ghost", white_space="nowrap"),
                ".",
                size="2",
                color_scheme="gray",
            ),
            rx.flex(
                *[_demo_row(login.email, login.role) for login in demo_logins()],
                direction="column",
            ),
            direction="column",
            spacing="2",
        ),
        size="2",
        width="100%",
        variant="surface",
        data_testid="demo-logins",
    )


def login_page() -> rx.Component:
    return rx.center(
        rx.flex(
            rx.flex(
                logo("44px"),
                rx.heading("Sign in to Clinic", size="6", as_="h1", align="center"),
                rx.text(
                    "Scheduling, worklist, notes and prescriptions for your practice.",
                    size="2",
                    color_scheme="gray",
                    align="center",
                ),
                direction="column",
                align="center",
                spacing="2",
            ),
            dependency_banner(),
            alert(LoginState.notice, testid="login-notice", color="gray", icon="info"),
            rx.card(
                rx.match(
                    LoginState.step,
                    ("totp", _totp_step()),
                    ("enrol", _enrol_step()),
                    ("recovery", _recovery_step()),
                    _form(),
                ),
                size="4",
                width="100%",
            ),
            rx.cond(LoginState.step == "password", _demo_logins()),
            rx.link(
                "Patient? Sign in to the patient portal",
                href="/portal/login",
                size="2",
                align="center",
                data_testid="portal-link",
            ),
            direction="column",
            spacing="5",
            width="100%",
            max_width="420px",
            padding_x="var(--space-4)",
            padding_y="var(--space-8)",
        ),
        min_height="100vh",
        width="100%",
        background=f"radial-gradient(circle at 50% 0%, {rx.color('accent', 3)} 0%, "
        f"{rx.color('gray', 2)} 55%)",
    )
