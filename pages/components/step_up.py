"""The step-up dialog shown before signing (prescriptions, reports): password or TOTP again.

The page's state provides ``sign_open``, ``sign_error``, ``signing``, ``confirm_sign(form)``
and ``sign_dialog_changed(is_open)``.
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from pages.components.feedback import alert


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.flex(
        rx.text(label, size="1", weight="medium", color_scheme="gray", as_="label"),
        control,
        direction="column",
        spacing="1",
    )


def step_up_dialog(state: Any, *, what: str, button: str) -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Confirm it is you"),
            rx.dialog.description(
                f"Signing makes the {what} final. Enter your password, or a code from "
                "your authenticator app.",
                size="2",
            ),
            rx.form(
                rx.flex(
                    _field(
                        "Password",
                        rx.input(
                            name="password",
                            type="password",
                            auto_complete="current-password",
                            auto_focus=True,
                            data_testid="stepup-password",
                        ),
                    ),
                    _field(
                        "or authenticator code",
                        rx.input(
                            name="code",
                            input_mode="numeric",
                            auto_complete="one-time-code",
                            max_length=8,
                        ),
                    ),
                    alert(state.sign_error, testid="stepup-error"),
                    rx.flex(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button(
                            rx.cond(
                                state.signing, rx.spinner(size="1"), rx.icon("pen_line", size=14)
                            ),
                            button,
                            type="submit",
                            disabled=state.signing,
                            data_testid="stepup-sign",
                        ),
                        justify="end",
                        spacing="2",
                    ),
                    direction="column",
                    spacing="3",
                ),
                on_submit=state.confirm_sign,
                reset_on_submit=True,
            ),
            max_width="420px",
        ),
        open=state.sign_open,
        on_open_change=state.sign_dialog_changed,
    )
