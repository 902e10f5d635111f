"""``/verify?t=…``: is this printed prescription genuine and still valid? (public, no PHI)."""

from __future__ import annotations

import reflex as rx

from pages.components.shell import logo
from state.verify import VerifyState

R = VerifyState.result
COLORS = {"valid": "green", "cancelled": "red", "superseded": "amber", "invalid": "red"}
ICONS = {"valid": "badge_check", "cancelled": "ban", "superseded": "refresh_cw", "invalid": "x"}


def _fact(label: str, key: str) -> rx.Component:
    return rx.cond(
        R[key] != "",
        rx.flex(
            rx.text(label, size="2", color_scheme="gray", width="110px"),
            rx.text(R[key], size="2", weight="medium"),
            spacing="2",
        ),
    )


def verify_page() -> rx.Component:
    state = R["state"]
    return rx.center(
        rx.flex(
            rx.flex(
                logo("36px"),
                rx.heading("Prescription check", size="6", as_="h1"),
                direction="column",
                align="center",
                spacing="2",
            ),
            rx.cond(
                state != "",
                rx.card(
                    rx.flex(
                        rx.match(
                            state,
                            *[
                                (
                                    name,
                                    rx.flex(
                                        rx.icon(ICONS[name], size=28, color=rx.color(color, 10)),
                                        rx.heading(R["title"], size="5", color_scheme=color),
                                        spacing="3",
                                        align="center",
                                    ),
                                )
                                for name, color in COLORS.items()
                            ],
                            rx.heading(R["title"], size="5"),
                        ),
                        rx.text(R["detail"], size="3"),
                        _fact("Number", "number"),
                        _fact("Clinic", "clinic"),
                        _fact("Prescriber", "doctor"),
                        _fact("Signed on", "signed"),
                        _fact("Fingerprint", "fingerprint"),
                        direction="column",
                        spacing="3",
                        data_testid="verify-result",
                        data_state=state,
                    ),
                    size="4",
                ),
                rx.spinner(size="3"),
            ),
            rx.text(
                "This page shows no patient information. Compare the number and fingerprint "
                "with the printed copy.",
                size="1",
                color_scheme="gray",
                align="center",
            ),
            direction="column",
            spacing="5",
            width="100%",
            max_width="520px",
            padding_x="var(--space-4)",
            padding_y="var(--space-8)",
        ),
        min_height="100vh",
        background=rx.color("gray", 2),
    )
