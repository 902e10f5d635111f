"""``/admin``: clinic admins only (checked on the server); users and roles, read-only."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.shell import page_header, shell
from state.admin import AdminState
from state.base import AppState


def _member_row(member: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.flex(
                rx.text(member["full_name"], weight="medium", size="2"),
                rx.text(member["email"], size="1", color_scheme="gray"),
                direction="column",
                spacing="0",
            )
        ),
        rx.table.cell(rx.badge(member["role_label"], variant="soft")),
        rx.table.cell(
            rx.cond(
                member["active"].to(bool),
                rx.badge("Active", color_scheme="green", variant="soft"),
                rx.badge("Disabled", color_scheme="gray", variant="soft"),
            )
        ),
        rx.table.cell(
            rx.text(
                rx.cond(member["last_login"].to(str) != "", member["last_login"], "Never"),
                size="2",
                color_scheme="gray",
            )
        ),
        align="center",
        data_testid="member-row",
    )


def admin_page() -> rx.Component:
    return shell(
        "admin",
        page_header(
            "Admin",
            rx.text("Users and roles of ", AppState.clinic_name, color_scheme="gray", size="2"),
        ),
        rx.card(
            rx.flex(
                rx.flex(
                    rx.heading("Team", size="4", as_="h2"),
                    rx.badge("Read-only for now", variant="surface", color_scheme="gray"),
                    justify="between",
                    align="center",
                ),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Name"),
                            rx.table.column_header_cell("Role"),
                            rx.table.column_header_cell("Status"),
                            rx.table.column_header_cell("Last sign-in"),
                        )
                    ),
                    rx.table.body(rx.foreach(AdminState.members, _member_row)),
                    variant="ghost",
                    size="2",
                    width="100%",
                ),
                rx.text(
                    "Inviting users, changing roles, MFA and clinic settings arrive with the "
                    "Identity issue.",
                    size="1",
                    color_scheme="gray",
                ),
                direction="column",
                spacing="4",
            ),
            size="3",
            data_testid="admin-members",
        ),
    )
