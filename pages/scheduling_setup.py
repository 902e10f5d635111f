"""``/scheduling-setup``: weekly hours per provider, exceptions, visit types, clinic policy.

For receptionists and clinic admins (``availability:manage``, checked on the server). Four tabs,
each a form with its own messages next to it; buttons are disabled while their save runs.
"""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from clinic_app.services.scheduling_setup import (
    EXCEPTION_LABELS,
    MAX_HORIZON_DAYS,
    MAX_VISIT_MINUTES,
    MIN_HORIZON_DAYS,
    MIN_VISIT_MINUTES,
    WEEKDAYS,
)
from pages.components.feedback import FOCUS_RING, alert, not_loaded
from pages.components.shell import page_header, shell
from state.scheduling_setup import PAGE
from state.scheduling_setup import SchedulingSetupState as S

SELECT_STYLE = {
    "padding": "0 8px",
    "border_radius": "var(--radius-2)",
    "border": "1px solid var(--gray-7)",
    "background": "var(--color-surface)",
    "height": "32px",
    "font_size": "14px",
    "_disabled": {"opacity": "0.6", "cursor": "not-allowed"},
}
CHANNELS = (("sms", "SMS"), ("whatsapp", "WhatsApp"), ("email", "Email"))
# Number inputs carry no min/max: the server's message shows next to the form instead of the
# browser's tooltip, and the hint under each field gives the range.
# Typed views of dict state vars (mypy sees rx.Field[dict] as an array var otherwise).
VISIT = cast(ObjectVar[dict[str, Any]], S.visit_form)
POLICY = cast(ObjectVar[dict[str, Any]], S.policy)


def _submit_row(icon: str, label: str, saving: rx.Var[bool], test_id: str) -> rx.Component:
    """A form's submit button at the right, spinning and disabled while it saves."""
    return rx.flex(
        rx.button(
            rx.icon(icon, size=14),
            label,
            type="submit",
            loading=saving,
            disabled=saving,
            data_testid=test_id,
        ),
        justify="end",
    )


def _label(text: str, html_for: str) -> rx.Component:
    return rx.el.label(text, html_for=html_for, style={"font_size": "14px", "font_weight": "500"})


def _field(
    text: str, html_for: str, control: rx.Component, hint: str | rx.Component = ""
) -> rx.Component:
    if isinstance(hint, str):
        hint = rx.text(hint, size="1", color_scheme="gray") if hint else rx.fragment()
    return rx.flex(
        _label(text, html_for),
        control,
        hint,
        direction="column",
        spacing="1",
    )


def _empty(text: str, testid: str) -> rx.Component:
    return rx.center(
        rx.text(text, size="2", color_scheme="gray", align="center"),
        padding="var(--space-5)",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="var(--radius-3)",
        width="100%",
        data_testid=testid,
    )


# ---- weekly hours -------------------------------------------------------------------------------


def _session(row: ObjectVar[dict[str, str]], day: str) -> rx.Component:
    index = row["index"].to(int)
    return rx.flex(
        rx.input(
            type="time",
            value=row["start"],
            on_change=lambda v: S.edit_session(index, "start", v),  # type: ignore[operator]
            aria_label=f"{day} session start",
            size="2",
            width="120px",
            data_testid="session-start",
        ),
        rx.text("–", color_scheme="gray"),
        rx.input(
            type="time",
            value=row["end"],
            on_change=lambda v: S.edit_session(index, "end", v),  # type: ignore[operator]
            aria_label=f"{day} session end",
            size="2",
            width="120px",
            data_testid="session-end",
        ),
        rx.icon_button(
            rx.icon("x", size=14),
            on_click=S.remove_session(index),  # type: ignore[operator]
            variant="ghost",
            color_scheme="gray",
            size="1",
            aria_label=f"Remove this {day} session",
            data_testid="session-remove",
        ),
        align="center",
        spacing="2",
        data_testid="session",
    )


def _day(weekday: int, name: str) -> rx.Component:
    sessions = S.week[weekday]
    return rx.flex(
        rx.text(name, weight="medium", size="2", width="110px", flex_shrink="0", padding_top="6px"),
        rx.flex(
            rx.cond(
                sessions.length() > 0,
                rx.foreach(sessions, lambda row: _session(row, name)),
                rx.text("Not working", size="2", color_scheme="gray", padding_top="6px"),
            ),
            direction="column",
            spacing="2",
            flex="1",
        ),
        rx.flex(
            rx.button(
                rx.icon("plus", size=14),
                "Session",
                on_click=S.add_session(weekday),  # type: ignore[operator]
                variant="soft",
                size="1",
                aria_label=f"Add a session on {name}",
                data_testid="session-add",
            ),
            rx.cond(
                sessions.length() > 0,
                rx.button(
                    "Copy to Mon–Fri",
                    on_click=S.copy_to_weekdays(weekday),  # type: ignore[operator]
                    variant="ghost",
                    color_scheme="gray",
                    size="1",
                    data_testid="session-copy",
                ),
            ),
            spacing="2",
            align="center",
            padding_top="4px",
        ),
        spacing="4",
        padding_y="var(--space-2)",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        wrap="wrap",
        data_testid=f"day-{weekday}",
    )


def _hours_tab() -> rx.Component:
    return rx.cond(
        S.providers.length() == 0,
        _empty(
            "No providers yet. Add doctors or rooms before setting working hours.",
            "hours-empty",
        ),
        rx.flex(
            rx.flex(
                _field(
                    "Provider",
                    "hours-provider",
                    rx.el.select(
                        rx.foreach(
                            S.providers,
                            lambda p: rx.el.option(p["name"], value=p["id"]),
                        ),
                        id="hours-provider",
                        value=S.provider_id,
                        on_change=S.choose_provider,
                        disabled=S.hours_dirty | S.hours_saving,
                        style=SELECT_STYLE,
                        data_testid="hours-provider",
                    ),
                    rx.cond(
                        S.hours_dirty,
                        rx.text(
                            "Save or discard your changes to switch provider.",
                            size="1",
                            color_scheme="amber",
                        ),
                    ),
                ),
                _field(
                    "Valid from",
                    "valid-from",
                    rx.input(
                        id="valid-from",
                        type="date",
                        value=S.valid_from,
                        on_change=lambda v: S.edit_validity("valid_from", v),  # type: ignore[operator]
                        data_testid="valid-from",
                    ),
                    "Optional",
                ),
                _field(
                    "Valid until",
                    "valid-until",
                    rx.input(
                        id="valid-until",
                        type="date",
                        value=S.valid_until,
                        on_change=lambda v: S.edit_validity("valid_until", v),  # type: ignore[operator]
                        data_testid="valid-until",
                    ),
                    "Optional",
                ),
                spacing="4",
                wrap="wrap",
                align="start",
            ),
            rx.cond(
                S.hours_mixed,
                alert(
                    rx.Var.create(
                        "These hours have different valid dates per session; saving applies the "
                        "dates above to every session."
                    ),
                    testid="hours-mixed",
                    color="amber",
                    icon="triangle_alert",
                ),
            ),
            rx.text(
                "Times are the clinic's local time (",
                S.timezone,
                "). A session ending 00:00 runs until midnight. Saving replaces ",
                rx.cond(S.provider_name != "", S.provider_name, "the provider"),
                "'s whole week.",
                size="2",
                color_scheme="gray",
            ),
            rx.flex(
                *[_day(i, name) for i, name in enumerate(WEEKDAYS)],
                direction="column",
                width="100%",
                data_testid="week",
            ),
            alert(S.hours_error, testid="hours-error"),
            alert(S.hours_notice, testid="hours-notice", color="green", icon="check"),
            rx.flex(
                rx.cond(
                    S.hours_dirty,
                    rx.badge("Unsaved changes", color_scheme="amber", variant="soft"),
                ),
                rx.spacer(),
                rx.button(
                    "Discard changes",
                    on_click=S.discard_hours,
                    variant="soft",
                    color_scheme="gray",
                    disabled=~S.hours_dirty | S.hours_saving,
                    data_testid="hours-discard",
                ),
                rx.button(
                    rx.icon("save", size=14),
                    "Save hours",
                    on_click=S.save_hours,
                    loading=S.hours_saving,
                    disabled=~S.hours_dirty | S.hours_saving,
                    data_testid="hours-save",
                ),
                spacing="2",
                align="center",
                width="100%",
            ),
            direction="column",
            spacing="4",
        ),
    )


# ---- exceptions ---------------------------------------------------------------------------------


def _exception_row(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    confirming = S.confirm_remove_id == row["id"].to(str)
    return rx.table.row(
        rx.table.cell(row["provider_name"]),
        rx.table.cell(rx.badge(row["kind_label"], variant="soft", color_scheme="gray")),
        rx.table.cell(row["when"], white_space="nowrap"),
        rx.table.cell(rx.text(row["note"], size="2", color_scheme="gray")),
        rx.table.cell(
            rx.cond(
                confirming,
                rx.flex(
                    rx.button(
                        "Remove",
                        on_click=S.remove_exception(row["id"].to(str)),  # type: ignore[operator]
                        color_scheme="red",
                        size="1",
                        data_testid="exception-remove-confirm",
                    ),
                    rx.button(
                        "Keep",
                        on_click=S.ask_remove(""),  # type: ignore[operator]
                        variant="soft",
                        color_scheme="gray",
                        size="1",
                    ),
                    spacing="2",
                ),
                rx.button(
                    "Remove…",
                    on_click=S.ask_remove(row["id"].to(str)),  # type: ignore[operator]
                    variant="ghost",
                    color_scheme="red",
                    size="1",
                    data_testid="exception-remove",
                ),
            ),
            white_space="nowrap",
        ),
        align="center",
        data_testid="exception-row",
    )


def _exception_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.heading("Add", size="3", as_="h3"),
            rx.flex(
                _field(
                    "Who",
                    "exc-provider",
                    rx.el.select(
                        rx.el.option("All providers (clinic holiday)", value="all"),
                        rx.foreach(S.providers, lambda p: rx.el.option(p["name"], value=p["id"])),
                        id="exc-provider",
                        name="provider_id",
                        style=SELECT_STYLE,
                        data_testid="exception-provider",
                    ),
                ),
                _field(
                    "What",
                    "exc-kind",
                    rx.el.select(
                        *[
                            rx.el.option(label, value=kind)
                            for kind, label in EXCEPTION_LABELS.items()
                        ],
                        id="exc-kind",
                        name="kind",
                        style=SELECT_STYLE,
                        data_testid="exception-kind",
                    ),
                ),
                _field(
                    "From",
                    "exc-start",
                    rx.input(
                        id="exc-start", name="starts_at", type="datetime-local", required=True
                    ),
                ),
                _field(
                    "Until",
                    "exc-end",
                    rx.input(id="exc-end", name="ends_at", type="datetime-local", required=True),
                ),
                spacing="3",
                wrap="wrap",
            ),
            _field(
                "Note",
                "exc-note",
                rx.input(id="exc-note", name="note", max_length=200, placeholder="Optional"),
            ),
            alert(S.exception_error, testid="exception-error"),
            _submit_row("plus", "Add", S.exception_saving, "exception-submit"),
            direction="column",
            spacing="3",
        ),
        key=S.exception_form_key,
        on_submit=S.add_exception,
        reset_on_submit=False,
    )


def _exceptions_tab() -> rx.Component:
    return rx.flex(
        rx.text(
            "Leave, holidays and blocked hours remove bookable time; an extra session adds time "
            "for one provider. Times are in ",
            S.timezone,
            ".",
            size="2",
            color_scheme="gray",
        ),
        alert(S.exception_notice, testid="exception-notice", color="green", icon="check"),
        rx.cond(
            S.exceptions.length() == 0,
            _empty("No upcoming leave, holidays, blocked hours or extra sessions.", "exc-empty"),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Who", "What", "When", "Note", "")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(S.exceptions, _exception_row)),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
        ),
        rx.separator(size="4"),
        _exception_form(),
        direction="column",
        spacing="4",
    )


# ---- visit types --------------------------------------------------------------------------------


def _swatch(color: rx.Var[str]) -> rx.Component:
    return rx.box(
        width="12px",
        height="12px",
        border_radius="3px",
        background=color,
        flex_shrink="0",
        aria_hidden="true",
    )


def _visit_row(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    active = row["is_active"].to(bool)
    return rx.table.row(
        rx.table.cell(
            rx.flex(
                _swatch(row["color"].to(str)),
                rx.text(row["name"], weight="medium", size="2"),
                align="center",
                spacing="2",
            )
        ),
        rx.table.cell(rx.code(row["code"], variant="ghost", size="1")),
        rx.table.cell(row["duration_minutes"].to(str) + " min"),
        rx.table.cell(
            rx.cond(
                row["portal_bookable"].to(bool),
                rx.badge("Portal", color_scheme="teal", variant="soft"),
                rx.text("Staff only", size="1", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.cond(
                active,
                rx.badge("Active", color_scheme="green", variant="soft"),
                rx.badge("Retired", color_scheme="gray", variant="outline"),
            )
        ),
        rx.table.cell(
            rx.button(
                rx.icon("pencil", size=12),
                "Edit",
                on_click=S.edit_visit_type(row["id"].to(str)),  # type: ignore[operator]
                variant="ghost",
                size="1",
                aria_label="Edit " + row["name"].to(str),
                data_testid="visit-edit",
            )
        ),
        align="center",
        opacity=rx.cond(active, "1", "0.65"),
        data_testid="visit-row",
    )


def _visit_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(rx.cond(S.visit_id != "", "Edit visit type", "New visit type")),
            rx.dialog.description(
                "The length sets the booking's default end and the slot search grid.",
                size="2",
                color_scheme="gray",
            ),
            rx.form(
                rx.flex(
                    _field(
                        "Name",
                        "visit-name",
                        rx.input(
                            id="visit-name",
                            name="name",
                            default_value=VISIT["name"].to(str),
                            max_length=120,
                            required=True,
                            auto_focus=True,
                            data_testid="visit-name",
                        ),
                    ),
                    rx.flex(
                        _field(
                            "Duration (minutes)",
                            "visit-minutes",
                            rx.input(
                                id="visit-minutes",
                                name="duration_minutes",
                                type="number",
                                default_value=VISIT["duration_minutes"].to(str),
                                required=True,
                                data_testid="visit-minutes",
                            ),
                            f"{MIN_VISIT_MINUTES}–{MAX_VISIT_MINUTES}",
                        ),
                        _field(
                            "Colour",
                            "visit-color",
                            rx.el.input(
                                id="visit-color",
                                name="color",
                                type="color",
                                default_value=VISIT["color"].to(str),
                                style={"width": "64px", "height": "32px", "padding": "2px"},
                                data_testid="visit-color",
                            ),
                        ),
                        spacing="4",
                    ),
                    rx.el.label(
                        rx.flex(
                            rx.switch(
                                name="portal_bookable",
                                default_checked=VISIT["portal_bookable"].to(bool),
                                data_testid="visit-portal",
                            ),
                            rx.text("Patients may book it in the portal", size="2"),
                            spacing="2",
                            align="center",
                        ),
                    ),
                    rx.el.label(
                        rx.flex(
                            rx.switch(
                                name="is_active",
                                default_checked=VISIT["is_active"].to(bool),
                                data_testid="visit-active",
                            ),
                            rx.text("Active (offered when booking; off = retired)", size="2"),
                            spacing="2",
                            align="center",
                        ),
                    ),
                    alert(S.visit_error, testid="visit-error"),
                    rx.flex(
                        rx.dialog.close(
                            rx.button(
                                "Cancel",
                                type="button",
                                variant="soft",
                                color_scheme="gray",
                                disabled=S.visit_saving,
                            )
                        ),
                        rx.button(
                            "Save",
                            type="submit",
                            loading=S.visit_saving,
                            disabled=S.visit_saving,
                            data_testid="visit-submit",
                        ),
                        justify="end",
                        spacing="2",
                    ),
                    direction="column",
                    spacing="3",
                    margin_top="var(--space-3)",
                ),
                key=S.visit_form_key,
                on_submit=S.save_visit_type,
                reset_on_submit=False,
            ),
            max_width="480px",
            data_testid="visit-dialog",
        ),
        open=S.visit_open,
        on_open_change=S.visit_dialog_changed,
    )


def _visit_types_tab() -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.text(
                "What can be booked and how long it takes. Renaming keeps booked appointments "
                "as they are; retire a type instead of deleting it.",
                size="2",
                color_scheme="gray",
            ),
            rx.button(
                rx.icon("plus", size=14),
                "New visit type",
                on_click=S.new_visit_type,
                data_testid="visit-new",
            ),
            justify="between",
            align="center",
            spacing="4",
            wrap="wrap",
        ),
        alert(S.visit_notice, testid="visit-notice", color="green", icon="check"),
        rx.cond(
            S.visit_types.length() == 0,
            _empty(
                "No visit types yet: bookings use a 20-minute consultation until you add one.",
                "visit-empty",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Name", "Code", "Length", "Booking", "Status", "")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(S.visit_types, _visit_row)),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
        ),
        _visit_dialog(),
        direction="column",
        spacing="4",
    )


# ---- policy -------------------------------------------------------------------------------------


def _switch(name: str, label: str, checked: rx.Var[bool]) -> rx.Component:
    return rx.el.label(
        rx.flex(
            rx.switch(name=name, default_checked=checked, data_testid=f"policy-{name}"),
            rx.text(label, size="2"),
            spacing="2",
            align="center",
        ),
    )


def _policy_tab() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.heading("Reminders", size="3", as_="h3"),
            rx.flex(
                _field(
                    "Send reminders (hours before)",
                    "policy-offsets",
                    rx.input(
                        id="policy-offsets",
                        name="reminder_offsets",
                        default_value=POLICY["reminder_offsets"].to(str),
                        placeholder="24, 2",
                        max_length=60,
                        data_testid="policy-offsets",
                    ),
                    "Up to 5 whole hours, e.g. 24, 2. Empty: no reminders.",
                ),
                _field(
                    "Channel",
                    "policy-channel",
                    rx.el.select(
                        *[rx.el.option(label, value=value) for value, label in CHANNELS],
                        id="policy-channel",
                        name="reminder_channel",
                        default_value=POLICY["reminder_channel"].to(str),
                        style=SELECT_STYLE,
                        data_testid="policy-channel",
                    ),
                    "Falls back to the other contact a patient has.",
                ),
                spacing="4",
                wrap="wrap",
            ),
            rx.heading("No-shows", size="3", as_="h3"),
            _switch(
                "no_show_enabled",
                "Each night, mark past appointments nobody arrived for as no-show",
                POLICY["no_show_enabled"].to(bool),
            ),
            _switch(
                "no_show_include_confirmed",
                "Count confirmed appointments too (otherwise only unconfirmed ones)",
                POLICY["no_show_include_confirmed"].to(bool),
            ),
            rx.heading("Portal self-booking", size="3", as_="h3"),
            _switch(
                "portal_booking_enabled",
                "Patients may book visit types marked 'Portal' themselves",
                POLICY["portal_booking_enabled"].to(bool),
            ),
            _field(
                "Booking horizon (days ahead)",
                "policy-horizon",
                rx.input(
                    id="policy-horizon",
                    name="portal_booking_horizon_days",
                    type="number",
                    default_value=POLICY["portal_booking_horizon_days"].to(str),
                    width="120px",
                    data_testid="policy-horizon",
                ),
                f"{MIN_HORIZON_DAYS}–{MAX_HORIZON_DAYS}",
            ),
            alert(S.policy_error, testid="policy-error"),
            alert(S.policy_notice, testid="policy-notice", color="green", icon="check"),
            _submit_row("save", "Save policy", S.policy_saving, "policy-save"),
            direction="column",
            spacing="3",
        ),
        key=S.policy_form_key,
        on_submit=S.save_policy,
        reset_on_submit=False,
    )


# ---- page ---------------------------------------------------------------------------------------


def _tab(value: str, label: str, icon: str) -> rx.Component:
    return rx.tabs.trigger(
        rx.flex(rx.icon(icon, size=14), label, spacing="2", align="center"),
        value=value,
        data_testid=f"tab-{value}",
        _focus_visible=FOCUS_RING,
    )


def scheduling_setup_page() -> rx.Component:
    return shell(
        PAGE,
        page_header(
            "Scheduling setup",
            "Working hours, time off, visit types and the clinic's booking rules.",
        ),
        rx.cond(
            ~S.loaded,
            rx.card(not_loaded("scheduling setup", S.load), size="3"),
            rx.card(
                rx.tabs.root(
                    rx.tabs.list(
                        _tab("hours", "Weekly hours", "clock"),
                        _tab("exceptions", "Time off & extra sessions", "calendar_off"),
                        _tab("visit-types", "Visit types", "list"),
                        _tab("policy", "Policy", "settings"),
                    ),
                    rx.tabs.content(_hours_tab(), value="hours", padding_top="var(--space-4)"),
                    rx.tabs.content(
                        _exceptions_tab(), value="exceptions", padding_top="var(--space-4)"
                    ),
                    rx.tabs.content(
                        _visit_types_tab(), value="visit-types", padding_top="var(--space-4)"
                    ),
                    rx.tabs.content(_policy_tab(), value="policy", padding_top="var(--space-4)"),
                    default_value="hours",
                ),
                size="3",
            ),
        ),
    )
