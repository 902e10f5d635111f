"""``/installation``: the server's clinics (tenants) for installation admins; no clinic data."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert
from pages.components.shell import page_header, shell
from state.installation import InstallationState as S


def _row(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["name"], weight="medium")),
        rx.table.cell(rx.code(row["slug"])),
        rx.table.cell(row["timezone"]),
        rx.table.cell(row["staff"].to(str)),
        rx.table.cell(row["patients"].to(str)),
        rx.table.cell(row["created"]),
        rx.table.cell(
            rx.cond(
                row["active"].to(bool),
                rx.flex(
                    rx.badge("Active", color_scheme="green", variant="soft"),
                    rx.button(
                        "Suspend",
                        size="1",
                        variant="ghost",
                        color_scheme="red",
                        on_click=S.set_active(row["slug"], False),
                    ),
                    spacing="2",
                    align="center",
                ),
                rx.flex(
                    rx.badge("Suspended", color_scheme="red", variant="soft"),
                    rx.button(
                        "Resume",
                        size="1",
                        variant="ghost",
                        on_click=S.set_active(row["slug"], True),
                    ),  # fmt: skip
                    spacing="2",
                    align="center",
                ),
            )
        ),
        data_testid="clinic-row",
    )


def _new_clinic() -> rx.Component:
    fields = [
        ("name", "Clinic name", "text"),
        ("slug", "Short id (e.g. north-clinic)", "text"),
        ("timezone", "Timezone (e.g. Europe/Berlin)", "text"),
        ("admin_name", "First admin's name", "text"),
        ("admin_email", "First admin's email", "email"),
        ("admin_password", "First admin's password (12+ characters)", "password"),
    ]
    return rx.card(
        rx.form(
            rx.flex(
                rx.heading("New clinic", size="4", as_="h2"),
                rx.grid(
                    *[
                        rx.input(name=name, placeholder=label, type=kind, required=True)
                        for name, label, kind in fields
                    ],
                    columns=rx.breakpoints(initial="1", sm="2"),
                    spacing="2",
                ),
                alert(S.form_error, testid="installation-error"),
                alert(S.saved, testid="installation-saved", color="green", icon="check"),
                rx.button("Create clinic", type="submit", data_testid="clinic-create"),
                direction="column",
                spacing="3",
                align="start",
            ),
            on_submit=S.create_clinic,
            reset_on_submit=False,
            id="new-clinic-form",
        ),
        size="3",
    )


def installation_page() -> rx.Component:
    return shell(
        "installation",
        page_header(
            "Installation",
            "The clinics on this server. Each clinic's data stays with the clinic; this console "
            "only creates, suspends and resumes them.",
        ),
        rx.card(
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in (
                                    "Clinic",
                                    "Id",
                                    "Timezone",
                                    "Staff",
                                    "Patients",
                                    "Created",
                                    "Status",
                                )
                            ]  # fmt: skip
                        )
                    ),
                    rx.table.body(rx.foreach(S.clinics, _row)),
                    width="100%",
                ),
                overflow_x="auto",
            ),
            size="3",
        ),
        _new_clinic(),
    )
