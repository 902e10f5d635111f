"""Banners, messages, loading and access views shared by every page."""

from __future__ import annotations

from typing import Any, Literal

import reflex as rx

from state.base import AppState

FOCUS_RING = {"outline": "2px solid var(--accent-8)", "outline_offset": "2px"}


def dependency_banner() -> rx.Component:
    """Non-blocking warning naming the dependency that is down."""
    return rx.cond(
        AppState.banner != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle_alert", size=18)),
            rx.callout.text(AppState.banner),
            color_scheme="amber",
            variant="surface",
            size="1",
            role="status",
            width="100%",
            data_testid="dependency-banner",
        ),
    )


def tinted_panel(
    color: Literal["green", "red", "amber"],
    content: rx.Component,
    *,
    testid: str,
    role: str = "status",
) -> rx.Component:
    """A full-width, callout-like panel (Radix callouts shrink to their content)."""
    return rx.box(
        content,
        background=rx.color(color, 2),
        border=f"1px solid {rx.color(color, 6)}",
        color=rx.color(color, 11),
        border_radius="var(--radius-3)",
        padding="var(--space-3) var(--space-4)",
        width="100%",
        role=role,
        data_testid=testid,
    )


def error_message() -> rx.Component:
    """A friendly message for a refused or failed action, dismissible."""
    return rx.cond(
        AppState.error_message != "",
        tinted_panel(
            "red",
            rx.flex(
                rx.flex(
                    rx.icon("circle_alert", size=18, flex_shrink="0"),
                    rx.text(AppState.error_message, size="2"),
                    spacing="2",
                    align="center",
                ),
                rx.icon_button(
                    rx.icon("x", size=16),
                    on_click=AppState.dismiss_error,
                    variant="ghost",
                    color_scheme="red",
                    size="1",
                    aria_label="Dismiss message",
                ),
                justify="between",
                align="center",
                width="100%",
                spacing="3",
            ),
            testid="error-message",
            role="alert",
        ),
    )


def not_loaded(what: str, retry: Any) -> rx.Component:
    """Spinner while a list loads; a retry button when loading failed (message shown above).

    ``retry`` is a state event handler (typed Any: mypy cannot type ``rx.event`` handlers).
    """
    return rx.center(
        rx.cond(
            AppState.error_message != "",
            rx.flex(
                rx.text(f"The {what} could not be loaded.", size="2", color_scheme="gray"),
                rx.button(
                    rx.icon("refresh_cw", size=14),
                    "Try again",
                    on_click=retry,
                    variant="soft",
                    data_testid="retry-load",
                ),
                direction="column",
                align="center",
                spacing="3",
            ),
            rx.spinner(size="3"),
        ),
        min_height="200px",
        width="100%",
    )


def loading_view(label: str = "Loading…") -> rx.Component:
    return rx.center(
        rx.flex(
            rx.spinner(size="3"),
            rx.text(label, color_scheme="gray", size="2"),
            direction="column",
            align="center",
            spacing="3",
        ),
        min_height="40vh",
        width="100%",
        data_testid="page-loading",
    )


def forbidden_view() -> rx.Component:
    """The 403 view: shown when the server refused the page for the signed-in role."""
    return rx.center(
        rx.card(
            rx.flex(
                rx.center(
                    rx.icon("lock", size=26, color=rx.color("red", 11)),
                    background=rx.color("red", 3),
                    border_radius="9999px",
                    width="56px",
                    height="56px",
                ),
                rx.heading(
                    "You don't have access to this page", size="5", as_="h1", align="center"
                ),
                rx.text(
                    "Your role (",
                    rx.text.strong(AppState.role_label),
                    ") does not include this part of the app. "
                    "If you need it, ask a clinic admin to change your role.",
                    color_scheme="gray",
                    size="2",
                    align="center",
                ),
                rx.link(
                    rx.button(rx.icon("arrow_left", size=16), "Back to the worklist"),
                    href="/worklist",
                ),
                direction="column",
                align="center",
                spacing="4",
                padding="var(--space-6)",
                max_width="440px",
            ),
            size="3",
        ),
        min_height="50vh",
        width="100%",
        data_testid="forbidden",
    )


def empty_state(
    icon: str,
    title: str,
    description: str | rx.Var[str],
    *,
    bullets: list[str] | None = None,
    footnote: str = "",
    testid: str = "empty-state",
    action: rx.Component | None = None,
) -> rx.Component:
    """A calm, centred placeholder that says what will appear here."""
    children: list[rx.Component] = [
        rx.center(
            rx.icon(icon, size=28, color=rx.color("accent", 11)),
            background=rx.color("accent", 3),
            border_radius="16px",
            width="60px",
            height="60px",
        ),
        rx.heading(title, size="4", as_="h2", align="center"),
        rx.text(description, color_scheme="gray", size="2", align="center", max_width="520px"),
    ]
    if bullets:
        children.append(
            rx.flex(
                *[
                    rx.flex(
                        rx.icon(
                            "circle_check", size=16, color=rx.color("accent", 10), flex_shrink="0"
                        ),
                        rx.text(item, size="2"),
                        spacing="2",
                        align="start",
                    )
                    for item in bullets
                ],
                direction="column",
                spacing="2",
                padding="var(--space-4)",
                border_radius="var(--radius-3)",
                background=rx.color("gray", 2),
                border=f"1px solid {rx.color('gray', 4)}",
                width="100%",
                max_width="520px",
            )
        )
    if action is not None:
        children.append(action)
    if footnote:
        children.append(rx.text(footnote, size="1", color_scheme="gray", align="center"))
    return rx.center(
        rx.flex(*children, direction="column", align="center", spacing="4", width="100%"),
        padding_y="var(--space-8)",
        padding_x="var(--space-4)",
        width="100%",
        data_testid=testid,
    )


def alert(
    message: rx.Var[str],
    *,
    testid: str,
    color: str = "red",
    icon: str = "circle_alert",
) -> rx.Component:
    """A form's message (an error by default), shown only while ``message`` is not empty."""
    return rx.cond(
        message != "",
        rx.callout.root(
            rx.callout.icon(rx.icon(icon, size=16)),
            rx.callout.text(message),
            color_scheme=color,
            variant="soft",
            size="1",
            role="alert" if color in ("red", "amber") else "status",
            width="100%",
            data_testid=testid,
        ),
    )


def live_badge(live: Any) -> rx.Component:
    """Shown while the page receives changes made on other screens (``state/live.py``)."""
    return rx.cond(
        live,
        rx.badge(
            rx.icon("radio", size=12),
            "Live",
            color_scheme="green",
            variant="soft",
            data_testid="live-badge",
        ),
    )
