"""The navigation shell: a sidebar on desktop, a top bar with a scrollable nav on tablets."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx

from pages.components.feedback import (
    FOCUS_RING,
    dependency_banner,
    error_message,
    forbidden_view,
    loading_view,
)
from state.base import AppState

SIDEBAR_WIDTH = "248px"
# Breakpoints (set in clinic_app.py to Radix's): 0, 520, 768, 1024, 1280 px. Sidebar from 1024.
DESKTOP = ["none", "none", "none", "flex"]
TABLET = ["flex", "flex", "flex", "none"]


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    icon: str
    href: str


NAV_ITEMS = (
    NavItem("calendar", "Calendar", "calendar_days", "/calendar"),
    NavItem("scheduling-setup", "Scheduling setup", "calendar_cog", "/scheduling-setup"),
    NavItem("worklist", "Worklist", "clipboard_list", "/worklist"),
    NavItem("patients", "Patients", "users", "/patients"),
    NavItem("scribe", "Scribe", "mic", "/scribe"),
    NavItem("reports", "Reports", "file_text", "/reports"),
    NavItem("templates", "Templates", "layout_template", "/templates"),
    NavItem("records", "Records", "folder_open", "/records"),
    NavItem("prescriptions", "Prescriptions", "pill", "/prescriptions"),
    NavItem("admin", "Admin", "shield_check", "/admin"),
    NavItem("audit", "Audit log", "scroll_text", "/audit"),
    NavItem("system", "System", "activity", "/system"),
    NavItem("installation", "Installation", "building_2", "/installation"),
)


def logo(size: str = "32px") -> rx.Component:
    return rx.image(src="/logo.svg", width=size, height=size, alt="", flex_shrink="0")


def _nav_link(item: NavItem, active: str, *, compact: bool) -> rx.Component:
    is_active = item.key == active
    body = rx.flex(
        rx.icon(item.icon, size=18 if not compact else 16, flex_shrink="0"),
        rx.text(item.label, size="2", weight="medium" if is_active else "regular"),
        align="center",
        spacing="3" if not compact else "2",
        padding_x="var(--space-3)",
        padding_y="var(--space-2)" if not compact else "var(--space-1)",
        border_radius="var(--radius-3)",
        color=rx.color("accent", 11) if is_active else rx.color("gray", 11),
        background=rx.color("accent", 3) if is_active else "transparent",
        _hover={"background": rx.color("accent", 3) if is_active else rx.color("gray", 3)},
        white_space="nowrap",
        min_height="36px" if not compact else "34px",
    )
    link = rx.link(
        body,
        href=item.href,
        underline="none",
        aria_current="page" if is_active else None,
        data_testid=f"nav-{item.key}",
        border_radius="var(--radius-3)",
        _focus_visible=FOCUS_RING,
        flex_shrink="0",
    )
    return rx.cond(AppState.nav_pages.contains(item.key), link)


def _avatar(size: str = "2") -> rx.Component:
    return rx.avatar(fallback=AppState.user_initials, size=size, radius="full", variant="soft")


def _user_block() -> rx.Component:
    return rx.flex(
        _avatar("3"),
        rx.flex(
            rx.text(AppState.user_name, size="2", weight="medium", trim="both", truncate=True),
            rx.badge(AppState.role_label, variant="soft", size="1", width="fit-content"),
            direction="column",
            spacing="1",
            min_width="0",
            flex="1",
            data_testid="current-user",
        ),
        rx.tooltip(
            rx.link(
                rx.icon_button(
                    rx.icon("user_cog", size=16),
                    variant="ghost",
                    color_scheme="gray",
                    aria_label="My account",
                    data_testid="account-link",
                ),
                href="/account",
            ),
            content="My account",
        ),
        rx.tooltip(
            rx.icon_button(
                rx.icon("log_out", size=16),
                on_click=AppState.sign_out,
                variant="ghost",
                color_scheme="gray",
                aria_label="Sign out",
                data_testid="sign-out",
            ),
            content="Sign out",
        ),
        align="center",
        spacing="3",
        width="100%",
    )


def _brand() -> rx.Component:
    return rx.flex(
        logo(),
        rx.flex(
            rx.text("Clinic", size="3", weight="bold", trim="both"),
            rx.text(
                AppState.clinic_name,
                size="1",
                color_scheme="gray",
                truncate=True,
                data_testid="clinic-name",
            ),
            direction="column",
            spacing="1",
            min_width="0",
        ),
        align="center",
        spacing="3",
        min_width="0",
    )


def sidebar(active: str) -> rx.Component:
    return rx.flex(
        _brand(),
        rx.flex(
            rx.text(
                "Workspace",
                size="1",
                color_scheme="gray",
                weight="medium",
                padding_left="var(--space-3)",
            ),
            *[_nav_link(item, active, compact=False) for item in NAV_ITEMS],
            direction="column",
            spacing="1",
            as_="nav",
            aria_label="Main",
        ),
        rx.spacer(),
        rx.separator(size="4"),
        _user_block(),
        direction="column",
        spacing="5",
        padding="var(--space-4)",
        width=SIDEBAR_WIDTH,
        height="100vh",
        position="fixed",
        top="0",
        left="0",
        background=rx.color("gray", 2),
        border_right=f"1px solid {rx.color('gray', 4)}",
        display=DESKTOP,
        z_index="10",
        data_testid="sidebar",
    )


def _user_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                _avatar("1"),
                rx.text(AppState.user_name, size="2", display=["none", "inline", "inline"]),
                variant="ghost",
                color_scheme="gray",
                aria_label="Account",
                data_testid="user-menu",
            ),
        ),
        rx.menu.content(
            rx.flex(
                rx.text(AppState.user_name, size="2", weight="medium"),
                rx.text(AppState.user_email, size="1", color_scheme="gray"),
                rx.badge(AppState.role_label, variant="soft", size="1", width="fit-content"),
                direction="column",
                spacing="1",
                padding_x="var(--space-2)",
                padding_y="var(--space-1)",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("user_cog", size=14),
                "My account",
                on_select=rx.redirect("/account"),
                data_testid="account-menu",
            ),
            rx.menu.item(
                rx.icon("log_out", size=14),
                "Sign out",
                on_select=AppState.sign_out,
                data_testid="sign-out-menu",
            ),
            align="end",
        ),
    )


def topbar(active: str) -> rx.Component:
    return rx.flex(
        rx.flex(
            _brand(),
            rx.spacer(),
            _user_menu(),
            align="center",
            spacing="3",
            width="100%",
        ),
        rx.flex(
            *[_nav_link(item, active, compact=True) for item in NAV_ITEMS],
            spacing="1",
            overflow_x="auto",
            as_="nav",
            aria_label="Main",
            width="100%",
            padding_bottom="var(--space-1)",
            style={"scrollbar_width": "none"},
        ),
        direction="column",
        spacing="3",
        padding_x="var(--space-4)",
        padding_top="var(--space-3)",
        padding_bottom="var(--space-2)",
        position="sticky",
        top="0",
        z_index="10",
        background=rx.color("gray", 1),
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        display=TABLET,
        data_testid="topbar",
    )


def page_header(title: str, subtitle: rx.Component | str | None = None, *actions) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.heading(title, size="7", as_="h1", weight="bold", data_testid="page-title"),
            rx.text(subtitle, color_scheme="gray", size="2")
            if isinstance(subtitle, str)
            else (subtitle if subtitle is not None else rx.fragment()),
            direction="column",
            spacing="1",
        ),
        rx.flex(*actions, spacing="2", align="center") if actions else rx.fragment(),
        justify="between",
        align="end",
        spacing="4",
        wrap="wrap",
        width="100%",
    )


def shell(active: str, *content: rx.Component, page: str = "") -> rx.Component:
    """The signed-in layout. ``content`` renders only after the server allowed this page.

    ``active`` is the highlighted nav item; ``page`` the access-checked page when it differs
    (the chart belongs under Patients).
    """
    main = rx.flex(
        dependency_banner(),
        error_message(),
        rx.cond(
            AppState.access_page == (page or active),
            rx.cond(
                AppState.access == "forbidden",
                forbidden_view(),
                rx.flex(*content, direction="column", spacing="5", width="100%"),
            ),
            loading_view(),
        ),
        direction="column",
        spacing="4",
        width="100%",
        max_width="1180px",
        margin_x="auto",
        padding_x=["var(--space-4)", "var(--space-4)", "var(--space-5)", "var(--space-6)"],
        padding_y=["var(--space-4)", "var(--space-4)", "var(--space-5)", "var(--space-6)"],
        as_="main",
    )
    return rx.box(
        rx.cond(
            AppState.signed_in,
            rx.fragment(
                sidebar(active),
                topbar(active),
                rx.box(main, margin_left=["0", "0", "0", SIDEBAR_WIDTH]),
            ),
            loading_view("Checking your session…"),
        ),
        min_height="100vh",
        background=rx.color("gray", 1),
    )
