"""``/account``: the signed-in user's two-step verification and other sessions."""

from __future__ import annotations

import reflex as rx

from pages.components.feedback import alert
from pages.components.shell import page_header, shell
from state.account import AccountState
from state.base import AppState


def _mfa_card() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.heading("Two-step verification", size="4", as_="h2"),
                rx.cond(
                    AccountState.mfa_enabled,
                    rx.badge("On", color_scheme="teal", data_testid="mfa-status"),
                    rx.badge("Off", color_scheme="gray", data_testid="mfa-status"),
                ),
                justify="between",
                align="center",
            ),
            rx.cond(
                AccountState.recovery_codes.length() > 0,
                rx.flex(
                    rx.text(
                        "Save these recovery codes; each signs you in once if you lose your "
                        "phone. They will not be shown again.",
                        size="2",
                    ),
                    rx.grid(
                        rx.foreach(AccountState.recovery_codes, lambda c: rx.code(c, size="3")),
                        columns="2",
                        spacing="2",
                        data_testid="account-recovery-codes",
                    ),
                    rx.button("Done", on_click=AccountState.done_with_codes, width="fit-content"),
                    direction="column",
                    spacing="3",
                ),
                rx.cond(
                    AccountState.enrol_qr != "",
                    rx.form(
                        rx.flex(
                            rx.text(
                                "Scan with your authenticator app, then enter its code.", size="2"
                            ),
                            rx.image(
                                src=AccountState.enrol_qr,
                                width="180px",
                                height="180px",
                                alt="QR code",
                            ),
                            rx.text(
                                "Key: ",
                                rx.code(AccountState.enrol_secret),
                                size="1",
                                color_scheme="gray",
                            ),
                            rx.flex(
                                rx.input(
                                    name="code",
                                    placeholder="123 456",
                                    auto_complete="one-time-code",
                                    input_mode="numeric",
                                    data_testid="account-code",
                                ),
                                rx.button(
                                    "Turn on", type="submit", data_testid="account-code-submit"
                                ),
                                spacing="2",
                            ),
                            direction="column",
                            spacing="3",
                        ),
                        on_submit=AccountState.confirm_mfa,
                        reset_on_submit=True,
                    ),
                    rx.cond(
                        AccountState.mfa_enabled,
                        rx.text(
                            "Your sign-in asks for a code from your authenticator app. Lost it? "
                            "Ask a clinic admin to reset it.",
                            size="2",
                            color_scheme="gray",
                        ),
                        rx.button(
                            rx.icon("shield_check", size=14),
                            "Set up an authenticator app",
                            on_click=AccountState.start_mfa,
                            width="fit-content",
                            data_testid="account-start-mfa",
                        ),
                    ),
                ),
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def _sessions_card() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("Where you are signed in", size="4", as_="h2"),
            rx.text(
                "Other signed-in browsers: ",
                rx.text.strong(AccountState.other_sessions),
                size="2",
                data_testid="other-sessions",
            ),
            rx.button(
                rx.icon("log_out", size=14),
                "Sign out everywhere else",
                variant="soft",
                color_scheme="red",
                on_click=AccountState.sign_out_others,
                width="fit-content",
                data_testid="sign-out-others",
            ),
            rx.cond(
                AccountState.account_notice != "",
                rx.text(AccountState.account_notice, size="2", color_scheme="green"),
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def account_page() -> rx.Component:
    return shell(
        "account",
        page_header("My account", rx.text(AppState.user_email, size="2", color_scheme="gray")),
        alert(AccountState.account_error, testid="account-error"),
        rx.flex(_mfa_card(), _sessions_card(), direction="column", spacing="4", max_width="640px"),
    )
