"""``/audit``: the clinic's audit trail with filters and CSV export (clinic admins)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import empty_state
from pages.components.shell import page_header, shell
from state.audit import AuditState


def _row(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["when"], size="1", white_space="nowrap")),
        rx.table.cell(rx.text(row["user"], size="1")),
        rx.table.cell(rx.code(row["action"], size="1")),
        rx.table.cell(rx.text(row["entity"], size="1", color_scheme="gray")),
        rx.table.cell(rx.text(row["ip"], size="1", color_scheme="gray")),
        rx.table.cell(
            rx.text(row["changes"], size="1", color_scheme="gray", max_width="320px", truncate=True)
        ),
        data_testid="audit-row",
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.input(name="user_email", placeholder="User email", size="2"),
            rx.input(name="patient_mrn", placeholder="Patient MRN", size="2"),
            rx.input(name="action", placeholder="Action (e.g. auth.)", size="2"),
            rx.flex(
                rx.text("From", size="1", color_scheme="gray"),
                rx.input(name="date_from", type="date", size="2"),
                align="center",
                spacing="1",
            ),
            rx.flex(
                rx.text("To", size="1", color_scheme="gray"),
                rx.input(name="date_to", type="date", size="2"),
                align="center",
                spacing="1",
            ),
            rx.button(
                rx.icon("search", size=14), "Filter", type="submit", data_testid="audit-filter"
            ),
            rx.button(
                rx.icon("download", size=14),
                "Export CSV",
                type="button",
                variant="soft",
                on_click=AuditState.export_csv,
                data_testid="audit-export",
            ),
            wrap="wrap",
            spacing="2",
            align="center",
        ),
        on_submit=AuditState.apply_filters,
        reset_on_submit=False,
    )


def audit_page() -> rx.Component:
    return shell(
        "audit",
        page_header(
            "Audit log",
            "Every change and every opened record, newest first (append-only).",
        ),
        rx.card(
            rx.flex(
                _filters(),
                rx.cond(
                    AuditState.filter_error != "",
                    rx.callout.root(
                        rx.callout.icon(rx.icon("circle_alert", size=16)),
                        rx.callout.text(AuditState.filter_error),
                        color_scheme="red",
                        variant="soft",
                        size="1",
                    ),
                ),
                rx.cond(
                    AuditState.rows.length() > 0,
                    rx.box(
                        rx.table.root(
                            rx.table.header(
                                rx.table.row(
                                    rx.table.column_header_cell("Time"),
                                    rx.table.column_header_cell("User"),
                                    rx.table.column_header_cell("Action"),
                                    rx.table.column_header_cell("Record"),
                                    rx.table.column_header_cell("IP"),
                                    rx.table.column_header_cell("Changes"),
                                )
                            ),
                            rx.table.body(rx.foreach(AuditState.rows, _row)),
                            size="1",
                            variant="ghost",
                            width="100%",
                        ),
                        overflow_x="auto",
                    ),
                    empty_state(
                        "scroll_text",
                        "No matching entries",
                        "Change the filters to see more of the audit trail.",
                        testid="audit-empty",
                    ),
                ),
                direction="column",
                spacing="4",
            ),
            size="3",
        ),
    )
