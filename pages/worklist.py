"""``/worklist``: today's appointments, grouped by status, times in the clinic's timezone."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import empty_state, live_badge, not_loaded
from pages.components.shell import page_header, shell
from state.worklist import WorklistState

STATUS_COLORS = {
    "scheduled": "gray",
    "confirmed": "blue",
    "arrived": "amber",
    "ready": "orange",
    "in_consultation": "teal",
    "completed": "green",
    "cancelled": "red",
    "no_show": "red",
}


def _status_badge(status: rx.Var, label: rx.Var) -> rx.Component:
    return rx.match(
        status,
        *[
            (key, rx.badge(label, color_scheme=color, variant="soft", radius="full"))  # type: ignore[arg-type]
            for key, color in STATUS_COLORS.items()
        ],
        rx.badge(label, variant="soft", radius="full"),
    )


def _appointment(item: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.text(item["starts"], size="4", weight="bold", trim="both"),
                rx.text(item["ends"], size="1", color_scheme="gray"),
                direction="column",
                align="center",
                spacing="1",
                min_width="56px",
                padding_right="var(--space-4)",
                border_right=f"1px solid {rx.color('gray', 4)}",
            ),
            rx.avatar(fallback=item["patient_initials"], size="3", radius="full", variant="soft"),
            rx.flex(
                rx.text(item["patient_name"], size="3", weight="medium", truncate=True),
                rx.flex(
                    rx.text(item["mrn"], size="1", color_scheme="gray"),
                    rx.text("·", size="1", color_scheme="gray"),
                    rx.text(item["visit_type"], size="1", color_scheme="gray"),
                    spacing="2",
                    wrap="wrap",
                ),
                direction="column",
                spacing="1",
                min_width="0",
                flex="1",
            ),
            rx.flex(
                rx.icon("stethoscope", size=14, color=rx.color("gray", 10)),
                rx.text(item["provider_name"], size="2", color_scheme="gray", truncate=True),
                align="center",
                spacing="2",
                display=["none", "none", "flex"],
                max_width="220px",
            ),
            rx.cond(
                item["waiting"].to(str) != "",
                rx.badge(
                    rx.icon("clock", size=12),
                    "waiting " + item["waiting"].to(str),
                    color_scheme=rx.cond(item["waiting_minutes"].to(int) >= 30, "red", "amber"),
                    variant="surface",
                    data_testid="waiting-time",
                ),
            ),
            _status_badge(item["status"], item["status_label"]),
            rx.flex(
                rx.foreach(
                    item["actions"].to(list[dict[str, str]]),
                    lambda action: rx.button(
                        action["label"],
                        on_click=WorklistState.advance(  # type: ignore[operator]
                            item["id"].to(str), action["to"], item["version"].to(int)
                        ),
                        loading=WorklistState.busy_id == item["id"].to(str),
                        size="1",
                        variant=rx.cond(action["to"] == "in_consultation", "solid", "soft"),
                        data_testid="worklist-action",
                        aria_label=action["label"] + " " + item["patient_name"].to(str),
                    ),
                ),
                rx.cond(
                    (item["status"].to(str) == "in_consultation")
                    & (WorklistState.user_role == "doctor"),
                    rx.link(
                        rx.button(rx.icon("mic", size=14), "Scribe", size="1", variant="soft"),
                        href="/scribe?appointment=" + item["id"].to(str),
                        data_testid="worklist-scribe",
                    ),
                ),
                spacing="1",
            ),
            align="center",
            spacing="4",
            wrap="wrap",
        ),
        size="2",
        data_testid="worklist-item",
        data_status=item["status"].to(str),
    )


def _group(group: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.heading(group["label"], size="3", as_="h2"),
            rx.badge(group["items"].to(list).length(), variant="surface", radius="full"),
            align="center",
            spacing="2",
        ),
        rx.foreach(group["items"].to(list[dict]), _appointment),
        direction="column",
        spacing="2",
        data_testid="worklist-group",
    )


def _content() -> rx.Component:
    return rx.cond(
        ~WorklistState.loaded,
        rx.card(not_loaded("worklist", WorklistState.load), size="3"),
        _appointments(),
    )


def _appointments() -> rx.Component:
    return rx.cond(
        WorklistState.total > 0,
        rx.flex(rx.foreach(WorklistState.groups, _group), direction="column", spacing="5"),
        rx.card(
            empty_state(
                "calendar_x",
                "No appointments today",
                "When patients are booked for today they appear here, grouped by status — "
                "arrived, ready for the doctor, in consultation, completed.",
                footnote="Appointments are booked on the calendar.",
                testid="worklist-empty",
            ),
            size="3",
        ),
    )


def _scope_controls() -> rx.Component:
    return rx.flex(
        live_badge(WorklistState.live),
        rx.segmented_control.root(
            rx.segmented_control.item("Mine", value="mine", data_testid="scope-mine"),
            rx.segmented_control.item("Branch", value="branch", data_testid="scope-branch"),
            rx.segmented_control.item("Clinic", value="clinic", data_testid="scope-clinic"),
            value=WorklistState.scope,
            on_change=WorklistState.set_scope,
        ),
        rx.cond(
            (WorklistState.scope == "branch") & (WorklistState.branches.length() > 1),
            rx.select(
                WorklistState.branches,
                value=WorklistState.branch,
                on_change=WorklistState.set_branch,
                size="2",
            ),
        ),
        spacing="2",
        align="center",
    )


def worklist_page() -> rx.Component:
    return shell(
        "worklist",
        page_header(
            "Worklist",
            rx.flex(
                rx.text(WorklistState.day_label, color_scheme="gray", size="2"),
                rx.cond(
                    WorklistState.total > 0,
                    rx.badge(
                        WorklistState.total.to_string() + " appointments",
                        variant="soft",
                        radius="full",
                    ),
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text(
                "Times in ",
                WorklistState.timezone,
                size="1",
                color_scheme="gray",
            ),
        ),
        _scope_controls(),
        _content(),
    )
