"""``/prescriptions``: empty state until the Prescriptions issue lands."""

from __future__ import annotations

import reflex as rx

from pages.components.feedback import empty_state
from pages.components.shell import page_header, shell


def prescriptions_page() -> rx.Component:
    return shell(
        "prescriptions",
        page_header("Prescriptions", "Write, print and share prescriptions."),
        rx.card(
            empty_state(
                "pill",
                "Prescriptions will live here",
                "Write prescriptions from the patient's record and share them safely: "
                "patients see theirs in the portal after signing in with a one-time code.",
                bullets=[
                    "Medication, dose and instructions with a printable layout",
                    "A QR code to verify each printed prescription",
                    "History per patient; repeat or stop a medication in one click",
                ],
                testid="prescriptions-empty",
            ),
            size="3",
        ),
    )
