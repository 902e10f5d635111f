"""``/admin``: clinic admins only (checked on the server): team, roles, MFA policy, permissions."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from clinic_app.services.auth import ROLE_LABELS
from pages.components.feedback import alert
from pages.components.shell import page_header, shell
from state.admin import STAFF_ROLE_OPTIONS, AdminState
from state.base import AppState


def _role_select(member: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(variant="soft", aria_label="Role"),
        rx.select.content(
            *[rx.select.item(ROLE_LABELS[role], value=role) for role in STAFF_ROLE_OPTIONS]
        ),
        value=member["role"].to(str),
        on_change=lambda role: AdminState.change_role(member["email"].to(str), role),
        disabled=member["is_me"].to(bool),
        size="1",
    )


def _member_row(member: ObjectVar[dict[str, Any]]) -> rx.Component:
    active = member["active"].to(bool)
    return rx.table.row(
        rx.table.cell(
            rx.flex(
                rx.text(member["full_name"], weight="medium", size="2"),
                rx.text(member["email"], size="1", color_scheme="gray"),
                rx.cond(
                    member["role"].to(str) == "doctor",
                    rx.input(
                        default_value=member["registration_number"].to(str),
                        placeholder="Registration no.",
                        size="1",
                        width="160px",
                        on_blur=lambda value: AdminState.set_registration(
                            member["email"].to(str), value
                        ),
                        aria_label="Professional registration number",
                        data_testid="member-registration",
                    ),
                ),
                direction="column",
                spacing="1",
            )
        ),
        rx.table.cell(_role_select(member)),
        rx.table.cell(
            rx.cond(
                active,
                rx.badge("Active", color_scheme="green", variant="soft"),
                rx.badge("Disabled", color_scheme="gray", variant="soft"),
            )
        ),
        rx.table.cell(
            rx.cond(
                member["mfa"].to(bool),
                rx.badge(rx.icon("shield_check", size=12), "On", color_scheme="teal"),
                rx.badge("Off", color_scheme="gray", variant="outline"),
            )
        ),
        rx.table.cell(
            rx.text(
                rx.cond(member["last_login"].to(str) != "", member["last_login"], "Never"),
                size="2",
                color_scheme="gray",
            )
        ),
        rx.table.cell(
            rx.cond(
                member["is_me"].to(bool),
                rx.text("You", size="1", color_scheme="gray"),
                rx.flex(
                    rx.button(
                        rx.cond(active, "Disable", "Enable"),
                        size="1",
                        variant="soft",
                        color_scheme=rx.cond(active, "red", "green"),
                        on_click=AdminState.set_active(member["email"].to(str), ~active),
                        data_testid="member-toggle",
                    ),
                    rx.cond(
                        member["mfa"].to(bool),
                        rx.button(
                            "Reset MFA",
                            size="1",
                            variant="soft",
                            color_scheme="gray",
                            on_click=AdminState.reset_mfa(member["email"].to(str)),
                            data_testid="member-reset-mfa",
                        ),
                    ),
                    spacing="2",
                ),
            )
        ),
        align="center",
        data_testid="member-row",
    )


def _team() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("Team", size="4", as_="h2"),
            alert(AdminState.saved, testid="admin-saved", color="green", icon="check"),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Name"),
                        rx.table.column_header_cell("Role"),
                        rx.table.column_header_cell("Status"),
                        rx.table.column_header_cell("2-step"),
                        rx.table.column_header_cell("Last sign-in"),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(AdminState.members, _member_row)),
                variant="ghost",
                size="2",
                width="100%",
            ),
            direction="column",
            spacing="4",
        ),
        size="3",
        data_testid="admin-members",
    )


def _new_member_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.flex(
                rx.heading("Add a team member", size="4", as_="h2"),
                rx.grid(
                    rx.input(name="full_name", placeholder="Full name", required=True),
                    rx.input(name="email", type="email", placeholder="Email", required=True),
                    rx.select.root(
                        rx.select.trigger(placeholder="Role"),
                        rx.select.content(
                            *[
                                rx.select.item(ROLE_LABELS[role], value=role)
                                for role in STAFF_ROLE_OPTIONS
                            ]
                        ),
                        name="role",
                        default_value="receptionist",
                    ),
                    rx.input(
                        name="password",
                        type="password",
                        placeholder="First password (12+ characters)",
                        auto_complete="new-password",
                        required=True,
                    ),
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="3",
                ),
                alert(AdminState.form_error, testid="member-form-error"),
                rx.flex(
                    rx.button("Add member", type="submit", data_testid="member-add"),
                    justify="end",
                ),
                direction="column",
                spacing="3",
            ),
            on_submit=AdminState.create_member,
            reset_on_submit=False,
        ),
        size="3",
    )


def _branches() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("Branches", size="4", as_="h2"),
            rx.foreach(
                AdminState.branches,
                lambda b: rx.flex(
                    rx.text(b["name"], weight="medium", size="2"),
                    rx.text(b["address"], " ", b["phone"], size="2", color_scheme="gray"),
                    spacing="3",
                    data_testid="branch-row",
                ),
            ),
            rx.form(
                rx.flex(
                    rx.input(name="name", placeholder="Branch name", required=True),
                    rx.input(name="address", placeholder="Address"),
                    rx.input(name="phone", placeholder="Phone"),
                    rx.button(
                        "Add branch", type="submit", variant="soft", data_testid="branch-add"
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
                on_submit=AdminState.add_branch,
                reset_on_submit=True,
            ),
            rx.cond(
                AdminState.branch_error != "",
                rx.text(AdminState.branch_error, color_scheme="red", size="2", role="alert"),
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def _mfa_policy() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("Two-step verification", size="4", as_="h2"),
            rx.text(
                "Roles ticked here must use an authenticator app; their members set it up at "
                "their next sign-in.",
                size="2",
                color_scheme="gray",
            ),
            rx.flex(
                *[
                    rx.checkbox(
                        ROLE_LABELS[role],
                        checked=AdminState.mfa_roles.contains(role),
                        on_change=lambda checked, role=role: AdminState.toggle_mfa_role(
                            role, checked
                        ),
                        data_testid=f"mfa-role-{role}",
                    )
                    for role in STAFF_ROLE_OPTIONS
                ],
                wrap="wrap",
                spacing="4",
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def _matrix() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("Permissions by role", size="4", as_="h2"),
            rx.text(
                "Decided in one place (clinic_app/security/permissions.py) and checked on the "
                "server for every action.",
                size="2",
                color_scheme="gray",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            rx.table.column_header_cell("Permission"),
                            rx.foreach(
                                AdminState.matrix_roles,
                                lambda label: rx.table.column_header_cell(rx.text(label, size="1")),
                            ),
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            AdminState.matrix,
                            lambda row: rx.table.row(
                                rx.table.cell(rx.code(row["permission"].to(str), size="1")),
                                rx.foreach(
                                    row["allowed"].to(list[bool]),
                                    lambda ok: rx.table.cell(
                                        rx.cond(
                                            ok,
                                            rx.icon("check", size=14, color=rx.color("teal", 10)),
                                            rx.text("·", color_scheme="gray"),
                                        )
                                    ),
                                ),
                            ),
                        )
                    ),
                    size="1",
                    variant="ghost",
                ),
                overflow_x="auto",
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
        data_testid="permission-matrix",
    )


def _break_glass() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.icon("shield_alert", color=rx.color("amber", 10)),
                rx.heading("Break-glass access", size="4", as_="h2"),
                spacing="2",
                align="center",
            ),
            rx.text(
                "Staff who opened a patient's prescriptions without a visit with them, and why.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                AdminState.break_glass.length() > 0,
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("When", "Who", "Patient", "Reason")
                            ]
                        )  # fmt: skip
                    ),
                    rx.table.body(
                        rx.foreach(
                            AdminState.break_glass,
                            lambda row: rx.table.row(
                                rx.table.cell(rx.text(row["when"], size="2", white_space="nowrap")),
                                rx.table.cell(row["who"]),
                                rx.table.cell(row["patient"]),
                                rx.table.cell(rx.text(row["reason"], size="2")),
                                data_testid="break-glass-row",
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                ),
                rx.text("No break-glass access so far.", size="2"),
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
        data_testid="break-glass-card",
    )


def admin_page() -> rx.Component:
    return shell(
        "admin",
        page_header(
            "Admin",
            rx.text(
                "Team, roles and security of ", AppState.clinic_name, color_scheme="gray", size="2"
            ),
        ),
        rx.flex(
            _team(),
            _new_member_form(),
            _branches(),
            _mfa_policy(),
            _break_glass(),
            _matrix(),
            direction="column",
            spacing="4",
        ),
    )
