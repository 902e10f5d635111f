"""``/calendar``: day and week views, providers side by side, booking, drag to move, live."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import live_badge, not_loaded
from pages.components.fullcalendar import fullcalendar
from pages.components.shell import page_header, shell
from state.calendar import CalendarState

# FullCalendar's own CSS is injected by its JS; these rules add the clinic's touches.
CALENDAR_CSS = {
    ".fc": {"font_size": "13px"},
    ".fc .availability": {"opacity": "0.55"},
    ".fc .appt-inactive": {"opacity": "0.55", "text_decoration": "line-through"},
    ".fc .fc-timegrid-now-indicator-line": {"border_color": "#dc2626", "border_width": "2px 0 0"},
    ".fc .fc-non-business, .fc .fc-timegrid-col.fc-day-today": {},
    ".fc-event": {"cursor": "pointer"},
}


# Typed views of dict state vars (mypy sees rx.Field[dict] as an array var otherwise).
PATIENT = cast(ObjectVar[dict[str, str]], CalendarState.booking_patient)
DETAIL = cast(ObjectVar[dict[str, Any]], CalendarState.detail)


def _toolbar() -> rx.Component:
    return rx.flex(
        rx.button(
            rx.icon("chevron_left", size=16),
            on_click=CalendarState.go(-1),  # type: ignore[operator]
            variant="soft",
            color_scheme="gray",
            aria_label="Previous",
            data_testid="cal-prev",
        ),
        rx.button(
            "Today", on_click=CalendarState.go_today, variant="soft", data_testid="cal-today"
        ),
        rx.button(
            rx.icon("chevron_right", size=16),
            on_click=CalendarState.go(1),  # type: ignore[operator]
            variant="soft",
            color_scheme="gray",
            aria_label="Next",
            data_testid="cal-next",
        ),
        rx.cond(
            CalendarState.can_manage_availability,
            rx.button(
                rx.icon("calendar_off", size=16),
                "Time off",
                on_click=CalendarState.set_exception_open(True),  # type: ignore[operator]
                variant="soft",
                color_scheme="gray",
                data_testid="time-off",
            ),
        ),
        rx.segmented_control.root(
            rx.segmented_control.item("Day", value="timeGridDay", data_testid="cal-view-day"),
            rx.segmented_control.item("Week", value="timeGridWeek", data_testid="cal-view-week"),
            value=CalendarState.view,
            on_change=CalendarState.set_view,
        ),
        spacing="2",
        align="center",
        wrap="wrap",
    )


def _provider_chip(provider: ObjectVar[dict[str, Any]]) -> rx.Component:
    chosen = CalendarState.selected_providers.contains(provider["id"])
    return rx.button(
        rx.box(
            width="10px", height="10px", border_radius="99px", background=provider["color"].to(str)
        ),
        provider["name"].to(str),
        rx.cond(provider["kind"].to(str) == "room", rx.badge("room", size="1", variant="soft")),
        on_click=CalendarState.toggle_provider(provider["id"].to(str)),  # type: ignore[operator]
        variant=rx.cond(chosen, "solid", "outline"),
        color_scheme=rx.cond(chosen, "teal", "gray"),
        size="2",
        radius="full",
        aria_pressed=chosen,
        data_testid="provider-chip",
    )


def _column(column: ObjectVar[dict[str, Any]]) -> rx.Component:
    pid = column["id"].to(str)
    # A plain box, not rx.card: Radix cards set ``contain: paint``, which makes FullCalendar's
    # position:fixed drag mirror and its hit testing land in the wrong place.
    return rx.box(
        rx.flex(
            rx.box(
                width="10px",
                height="10px",
                border_radius="99px",
                background=column["color"].to(str),
            ),
            rx.text(column["name"].to(str), weight="bold", size="2"),
            align="center",
            spacing="2",
            padding_bottom="var(--space-2)",
        ),
        fullcalendar(
            key=column["key"].to(str),
            events=column["events"].to(list[dict[str, Any]]),
            initial_view=CalendarState.view,
            initial_date=CalendarState.anchor,
            time_zone=CalendarState.timezone,
            selectable=CalendarState.can_book,
            editable=CalendarState.can_move,
            droppable=CalendarState.can_move,  # take visits dragged from the other providers
            height="680px",
            select=lambda start, end: CalendarState.select_range(pid, start, end),  # type: ignore[operator]
            event_drop=CalendarState.move_event,
            event_resize=CalendarState.move_event,
            event_receive=lambda aid, start, end, version: CalendarState.receive_event(  # type: ignore[operator]
                pid, aid, start, end, version
            ),
            event_click=CalendarState.open_detail,
        ),
        flex="1",
        padding="var(--space-3)",
        border=f"1px solid {rx.color('gray', 5)}",
        border_radius="var(--radius-4)",
        background=rx.color("gray", 1),
        min_width=rx.cond(CalendarState.view == "timeGridDay", "240px", "560px"),
        data_testid="calendar-column",
        data_provider=pid,
    )


def _legend() -> rx.Component:
    items = [
        ("Scheduled", "#64748b"),
        ("Confirmed", "#2563eb"),
        ("Arrived", "#d97706"),
        ("Ready", "#ea580c"),
        ("In consultation", "#0d9488"),
        ("Completed", "#16a34a"),
        ("Cancelled / no-show", "#dc2626"),
        ("Working hours", "#ccfbf1"),
    ]
    return rx.flex(
        *[
            rx.flex(
                rx.box(width="10px", height="10px", border_radius="3px", background=color),
                rx.text(label, size="1", color_scheme="gray"),
                spacing="1",
                align="center",
            )
            for label, color in items
        ],
        spacing="3",
        wrap="wrap",
    )


def _patient_result(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.button(
        rx.flex(
            rx.text(row["name"].to(str), weight="medium", size="2"),
            rx.text(
                row["mrn"].to(str)
                + " · "
                + row["birth_date"].to(str)
                + " · "
                + row["phone"].to(str),
                size="1",
                color_scheme="gray",
            ),
            direction="column",
            align="start",
        ),
        on_click=CalendarState.pick_patient(row["id"].to(str)),  # type: ignore[operator]
        variant="ghost",
        width="100%",
        justify="start",
        height="auto",
        padding="var(--space-2)",
        data_testid="patient-result",
    )


def _new_patient_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.flex(
                rx.input(
                    name="given_name",
                    placeholder="Given name",
                    required=True,
                    data_testid="new-given",
                ),
                rx.input(
                    name="family_name",
                    placeholder="Family name",
                    required=True,
                    data_testid="new-family",
                ),
                spacing="2",
            ),
            rx.flex(
                rx.input(
                    name="birth_date",
                    type="date",
                    aria_label="Date of birth",
                    data_testid="new-dob",
                ),
                rx.input(name="phone", placeholder="Phone", data_testid="new-phone"),
                spacing="2",
            ),
            rx.cond(
                CalendarState.new_patient_error != "",
                rx.text(
                    CalendarState.new_patient_error,
                    color_scheme="red",
                    size="2",
                    data_testid="new-patient-error",
                ),
            ),
            rx.button(
                "Add patient", type="submit", variant="soft", data_testid="new-patient-submit"
            ),
            direction="column",
            spacing="2",
        ),
        on_submit=CalendarState.create_patient,
        reset_on_submit=False,
    )


def _patient_picker() -> rx.Component:
    return rx.cond(
        CalendarState.booking_patient.contains("id"),
        rx.flex(
            rx.icon("user_check", size=18, color=rx.color("accent", 10)),
            rx.flex(
                rx.text(
                    PATIENT["name"],
                    weight="bold",
                    size="2",
                    data_testid="booking-patient",
                ),
                rx.text(
                    PATIENT["mrn"] + " · " + PATIENT["birth_date"],
                    size="1",
                    color_scheme="gray",
                ),
                direction="column",
                flex="1",
            ),
            rx.button("Change", on_click=CalendarState.clear_patient, variant="ghost", size="1"),
            align="center",
            spacing="2",
            padding="var(--space-2)",
            border=f"1px solid {rx.color('gray', 5)}",
            border_radius="var(--radius-3)",
        ),
        rx.flex(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                value=CalendarState.patient_query,
                on_change=CalendarState.search_patient,
                debounce_timeout=250,
                placeholder="Search patient by name or MRN",
                auto_focus=True,
                data_testid="booking-patient-search",
            ),
            rx.cond(
                CalendarState.patient_results.length() > 0,
                rx.flex(
                    rx.foreach(CalendarState.patient_results, _patient_result),
                    direction="column",
                    border=f"1px solid {rx.color('gray', 4)}",
                    border_radius="var(--radius-3)",
                    max_height="200px",
                    overflow_y="auto",
                ),
                rx.cond(
                    CalendarState.patient_query.length() >= 2,
                    rx.text("No patient found — add them below.", size="1", color_scheme="gray"),
                ),
            ),
            rx.button(
                rx.icon("user_plus", size=14),
                "New patient",
                on_click=CalendarState.toggle_new_patient,
                variant="ghost",
                size="1",
                data_testid="new-patient-toggle",
            ),
            rx.cond(CalendarState.new_patient_open, _new_patient_form()),
            direction="column",
            spacing="2",
        ),
    )


def _alternative(alt: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.button(
        alt["label"],
        on_click=CalendarState.choose_alternative(alt["starts_at"], alt["ends_at"]),  # type: ignore[operator]
        variant="outline",
        size="1",
        data_testid="alternative",
    )


def _booking_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Book appointment"),
            rx.dialog.description(
                CalendarState.booking_label, size="2", data_testid="booking-when"
            ),
            rx.flex(
                rx.text("Patient", size="2", weight="medium"),
                _patient_picker(),
                rx.text("Visit type", size="2", weight="medium"),
                rx.select.root(
                    rx.select.trigger(data_testid="booking-visit-type"),
                    rx.select.content(
                        rx.foreach(
                            CalendarState.visit_types,
                            lambda v: rx.select.item(
                                v["name"].to(str) + " (" + v["duration_minutes"].to(str) + " min)",
                                value=v["code"].to(str),
                            ),
                        )
                    ),
                    value=CalendarState.booking_visit_type,
                    on_change=CalendarState.choose_visit_type,
                ),
                rx.text("Notes", size="2", weight="medium"),
                rx.text_area(
                    default_value=CalendarState.booking_notes,
                    on_blur=CalendarState.set_booking_notes,
                    placeholder="Reason for visit, interpreter needed, …",
                    data_testid="booking-notes",
                ),
                rx.cond(
                    CalendarState.booking_error != "",
                    rx.callout(
                        rx.flex(
                            rx.text(CalendarState.booking_error, data_testid="booking-error"),
                            rx.cond(
                                CalendarState.alternatives.length() > 0,
                                rx.flex(
                                    rx.foreach(CalendarState.alternatives, _alternative),
                                    spacing="2",
                                    wrap="wrap",
                                ),
                            ),
                            rx.cond(
                                CalendarState.booking_error_code == "OUTSIDE_AVAILABILITY",
                                rx.checkbox(
                                    "Book outside working hours anyway",
                                    checked=CalendarState.booking_outside_hours,
                                    on_change=CalendarState.set_booking_outside_hours,
                                    data_testid="booking-outside-hours",
                                ),
                            ),
                            direction="column",
                            spacing="2",
                        ),
                        icon="triangle_alert",
                        color_scheme="red",
                        role="alert",
                    ),
                ),
                rx.flex(
                    rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                    rx.button(
                        "Book",
                        on_click=CalendarState.submit_booking,
                        disabled=~CalendarState.booking_patient.contains("id"),
                        data_testid="booking-submit",
                    ),
                    justify="end",
                    spacing="2",
                ),
                direction="column",
                spacing="3",
                margin_top="var(--space-3)",
            ),
            max_width="520px",
            data_testid="booking-dialog",
        ),
        open=CalendarState.booking_open,
        on_open_change=CalendarState.set_booking_open,
    )


def _history_row(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.flex(
        rx.text(row["at"], size="1", color_scheme="gray", min_width="90px"),
        rx.text(
            row["action"]
            + " "
            + row["from_status"]
            + " → "
            + row["to_status"]
            + " "
            + row["old"]
            + " → "
            + row["new"]
            + " "
            + row["reason"],
            size="1",
        ),
        spacing="2",
    )


def _detail_dialog() -> rx.Component:
    detail = DETAIL
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(detail["patient_name"].to(str)),
            rx.dialog.description(
                detail["mrn"].to(str)
                + " · "
                + detail["label"].to(str)
                + " · "
                + detail["provider_name"].to(str),
                size="2",
            ),
            rx.flex(
                rx.flex(
                    rx.badge(detail["status_label"].to(str), size="2", data_testid="detail-status"),
                    rx.text(detail["visit_type"].to(str), size="2", color_scheme="gray"),
                    spacing="2",
                    align="center",
                ),
                rx.cond(detail["notes"].to(str) != "", rx.text(detail["notes"].to(str), size="2")),
                rx.cond(
                    detail["cancel_reason"].to(str) != "",
                    rx.text(
                        "Cancelled: " + detail["cancel_reason"].to(str),
                        size="2",
                        color_scheme="red",
                    ),
                ),
                rx.cond(
                    CalendarState.detail_error != "",
                    rx.callout(
                        CalendarState.detail_error,
                        icon="triangle_alert",
                        color_scheme="red",
                        data_testid="detail-error",
                    ),
                ),
                rx.flex(
                    rx.foreach(
                        CalendarState.detail_actions,
                        lambda a: rx.button(
                            a["label"],
                            on_click=CalendarState.transition(a["to"]),  # type: ignore[operator]
                            variant="soft",
                            data_testid="detail-action",
                        ),
                    ),
                    rx.cond(
                        DETAIL["allowed"].to(list[str]).contains("cancelled"),
                        rx.button(
                            "Cancel…",
                            on_click=CalendarState.toggle_cancel,
                            variant="soft",
                            color_scheme="red",
                        ),
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
                rx.cond(
                    CalendarState.cancel_open,
                    rx.form(
                        rx.flex(
                            rx.input(
                                name="reason",
                                placeholder="Reason (required)",
                                required=True,
                                flex="1",
                                data_testid="cancel-reason",
                            ),
                            rx.button(
                                "Cancel appointment",
                                type="submit",
                                color_scheme="red",
                                data_testid="cancel-submit",
                            ),
                            spacing="2",
                        ),
                        on_submit=CalendarState.cancel_appointment,
                    ),
                ),
                rx.text("History", size="2", weight="medium"),
                rx.cond(
                    CalendarState.detail_history.length() > 0,
                    rx.flex(
                        rx.foreach(CalendarState.detail_history, _history_row),
                        direction="column",
                        spacing="1",
                    ),
                    rx.text("No changes recorded yet.", size="1", color_scheme="gray"),
                ),
                rx.flex(
                    rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")),
                    justify="end",
                ),
                direction="column",
                spacing="3",
                margin_top="var(--space-3)",
            ),
            max_width="560px",
            data_testid="detail-dialog",
        ),
        open=CalendarState.detail_open,
        on_open_change=CalendarState.set_detail_open,
    )


def _exception_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Time off, holidays and extra sessions"),
            rx.dialog.description(
                "Leave, holidays and blocked hours remove bookable time; an extra session adds "
                "time. Times are in " + CalendarState.timezone + ".",
                size="2",
            ),
            rx.form(
                rx.flex(
                    rx.text("Who", size="2", weight="medium"),
                    rx.el.select(
                        rx.el.option("Whole clinic (holiday)", value="all"),
                        rx.foreach(
                            CalendarState.providers,
                            lambda p: rx.el.option(p["name"].to(str), value=p["id"].to(str)),
                        ),
                        name="provider_id",
                        data_testid="exception-provider",
                        style={"padding": "6px", "border_radius": "6px"},
                    ),
                    rx.text("What", size="2", weight="medium"),
                    rx.el.select(
                        rx.el.option("Leave", value="leave"),
                        rx.el.option("Holiday", value="holiday"),
                        rx.el.option("Blocked hours", value="blocked"),
                        rx.el.option("Extra session", value="extra"),
                        name="kind",
                        data_testid="exception-kind",
                        style={"padding": "6px", "border_radius": "6px"},
                    ),
                    rx.flex(
                        rx.flex(
                            rx.text("From", size="2", weight="medium"),
                            rx.input(name="starts_at", type="datetime-local", required=True),
                            direction="column",
                            flex="1",
                        ),
                        rx.flex(
                            rx.text("Until", size="2", weight="medium"),
                            rx.input(name="ends_at", type="datetime-local", required=True),
                            direction="column",
                            flex="1",
                        ),
                        spacing="2",
                    ),
                    rx.input(name="note", placeholder="Note (optional)", max_length=200),
                    rx.cond(
                        CalendarState.exception_error != "",
                        rx.callout(
                            CalendarState.exception_error,
                            icon="triangle_alert",
                            color_scheme="red",
                            data_testid="exception-error",
                        ),
                    ),
                    rx.flex(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                        rx.button("Save", type="submit", data_testid="exception-submit"),
                        justify="end",
                        spacing="2",
                    ),
                    direction="column",
                    spacing="2",
                    margin_top="var(--space-3)",
                ),
                on_submit=CalendarState.add_time_off,
                reset_on_submit=False,
            ),
            max_width="520px",
        ),
        open=CalendarState.exception_open,
        on_open_change=CalendarState.set_exception_open,
    )


def _calendars() -> rx.Component:
    return rx.flex(
        rx.flex(rx.foreach(CalendarState.providers, _provider_chip), spacing="2", wrap="wrap"),
        rx.cond(
            CalendarState.flash != "",
            rx.callout(
                CalendarState.flash,
                icon="circle_check",
                color_scheme="green",
                size="1",
                data_testid="calendar-flash",
            ),
        ),
        rx.flex(
            rx.foreach(CalendarState.columns, _column),
            spacing="3",
            overflow_x="auto",
            width="100%",
            data_testid="calendar-view",
        ),
        _legend(),
        _booking_dialog(),
        _detail_dialog(),
        _exception_dialog(),
        direction="column",
        spacing="3",
        style=CALENDAR_CSS,
    )


def calendar_page() -> rx.Component:
    return shell(
        "calendar",
        page_header(
            "Calendar",
            rx.flex(
                rx.text(
                    CalendarState.range_label, size="2", weight="medium", data_testid="range-label"
                ),
                rx.text("· times in " + CalendarState.timezone, size="1", color_scheme="gray"),
                live_badge(CalendarState.live),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            _toolbar(),
        ),
        rx.cond(
            ~CalendarState.loaded,
            rx.card(not_loaded("calendar", CalendarState.load), size="3"),
            _calendars(),
        ),
    )
