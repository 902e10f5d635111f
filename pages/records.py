"""``/records``: empty state until the Records issue builds the clinical record."""

from __future__ import annotations

import reflex as rx

from pages.components.feedback import empty_state
from pages.components.shell import page_header, shell


def records_page() -> rx.Component:
    return shell(
        "records",
        page_header("Records", "Notes, drawings and documents of each patient."),
        rx.card(
            empty_state(
                "folder_open",
                "Patient records will live here",
                "Every signed note and document of a patient in one timeline, with versions "
                "and a full audit trail.",
                bullets=[
                    "Signed consultation notes and letters",
                    "Body charts, images and PDF pages annotated with drawings",
                    "Search by patient, date and type; export to DOCX",
                ],
                testid="records-empty",
            ),
            size="3",
        ),
    )
