"""``/calendar``: empty state until the Scheduling issue builds the calendar."""

from __future__ import annotations

import reflex as rx

from pages.components.feedback import empty_state
from pages.components.shell import page_header, shell


def calendar_page() -> rx.Component:
    return shell(
        "calendar",
        page_header("Calendar", "Book and move appointments for every provider and room."),
        rx.card(
            empty_state(
                "calendar_days",
                "The appointment calendar will live here",
                "Receptionists book, move and cancel appointments in day and week views; "
                "doctors see their own day at a glance.",
                bullets=[
                    "Day and week views per provider and room, in the clinic's timezone",
                    "Drag to reschedule, with overlap checks as you book",
                    "Arrivals flow straight into today's worklist",
                ],
                footnote="Today's booked appointments already show on the Worklist.",
                testid="calendar-empty",
                action=rx.link(
                    rx.button(
                        rx.icon("clipboard_list", size=16), "Open today's worklist", variant="soft"
                    ),
                    href="/worklist",
                ),
            ),
            size="3",
        ),
    )
