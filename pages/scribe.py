"""``/scribe``: empty state until the Scribe issues build recording and drafting."""

from __future__ import annotations

import reflex as rx

from pages.components.feedback import empty_state
from pages.components.shell import page_header, shell


def scribe_page() -> rx.Component:
    return shell(
        "scribe",
        page_header("Scribe", "Record the consultation; get a drafted note to review and sign."),
        rx.card(
            empty_state(
                "mic",
                "The AI scribe will live here",
                "Start a recording in the browser during the consultation. The audio is "
                "transcribed and a note is drafted for you to review, edit and sign.",
                bullets=[
                    "Record in the browser — uploads resume if the connection drops",
                    "Transcript with speakers, then a drafted note with its evidence",
                    "Review, sign and file the note as a DOCX in the patient's record",
                ],
                footnote="Runs on this server with the offline engines by default.",
                testid="scribe-empty",
            ),
            size="3",
        ),
    )
