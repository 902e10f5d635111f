"""FullCalendar (MIT, npm) wrapped as a Reflex component: time-grid day/week views.

Only the free (MIT) plugins are used: time grid, interaction (click, select, drag, resize) and
luxon3 for named time zones, so the calendar draws in the clinic's timezone whatever the
browser's. FullCalendar calls its callbacks ``select``, ``dateClick``, ``eventDrop`` …; the
event triggers below are named so Reflex emits exactly those props, and each spec picks the
few plain strings/numbers the server needs from FullCalendar's info object. Calendars on one
page can pass events to each other (``droppable``): the receiver fires ``eventReceive``.
"""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars.base import Var
from reflex_base.utils.imports import ImportVar

FC_VERSION = "6.1.21"
PLUGINS = {
    f"@fullcalendar/timegrid@{FC_VERSION}": "timeGridPlugin",
    f"@fullcalendar/interaction@{FC_VERSION}": "interactionPlugin",
    f"@fullcalendar/luxon3@{FC_VERSION}": "luxonPlugin",
}


def _field(info: Var, path: str, kind: type = str) -> Var:
    return Var(_js_expr=f"({info!s})?.{path}", _var_type=kind)


def _range_spec(info: Var) -> tuple[Var[str], Var[str]]:
    """``select``: the chosen range as ISO strings with the clinic's offset."""
    return (_field(info, "startStr"), _field(info, "endStr"))


def _date_spec(info: Var) -> tuple[Var[str]]:
    """``dateClick``: the clicked slot's start."""
    return (_field(info, "dateStr"),)


def _change_spec(info: Var) -> tuple[Var[str], Var[str], Var[str], Var[int]]:
    """``eventDrop`` / ``eventResize`` / ``eventReceive``: id, new start, new end, version shown.

    ``eventReceive`` is a drop from another calendar on the page; the page binds which one
    received it. A refusal needs no client-side ``revert()``: a new ``events`` array replaces
    a calendar's whole event store, the received copy included (see ``CalendarState``).
    """
    return (
        _field(info, "event.id"),
        _field(info, "event.startStr"),
        _field(info, "event.endStr"),
        _field(info, "event.extendedProps.version", int),
    )


def _click_spec(info: Var) -> tuple[Var[str]]:
    """``eventClick``: the appointment id."""
    return (_field(info, "event.id"),)


def _dates_spec(info: Var) -> tuple[Var[str], Var[str], Var[str]]:
    """``datesSet``: the visible range and view type."""
    return (_field(info, "startStr"), _field(info, "endStr"), _field(info, "view.type"))


class FullCalendar(rx.NoSSRComponent):
    """``<FullCalendar>`` from ``@fullcalendar/react`` (needs ``window``: no SSR)."""

    library = f"@fullcalendar/react@{FC_VERSION}"
    tag = "FullCalendar"
    is_default = True
    lib_dependencies: list[str] = [  # noqa: RUF012 - Reflex reads this class attribute
        f"@fullcalendar/core@{FC_VERSION}",
        *PLUGINS,
        "luxon@3.7.2",
    ]

    plugins: rx.Var[list[Any]]
    initial_view: rx.Var[str]
    initial_date: rx.Var[str]
    time_zone: rx.Var[str]
    events: rx.Var[list[dict[str, Any]]]
    header_toolbar: rx.Var[Any]
    editable: rx.Var[bool]
    selectable: rx.Var[bool]
    select_mirror: rx.Var[bool]
    now_indicator: rx.Var[bool]
    all_day_slot: rx.Var[bool]
    slot_duration: rx.Var[str]
    snap_duration: rx.Var[str]
    slot_min_time: rx.Var[str]
    slot_max_time: rx.Var[str]
    scroll_time: rx.Var[str]
    first_day: rx.Var[int]
    height: rx.Var[str]
    day_header_format: rx.Var[dict[str, Any]]
    slot_label_format: rx.Var[dict[str, Any]]
    event_time_format: rx.Var[dict[str, Any]]
    event_overlap: rx.Var[bool]
    display_event_end: rx.Var[bool]
    # Accept events dragged from the other calendars on the page (needs ``editable`` on both).
    droppable: rx.Var[bool]

    select: rx.EventHandler[_range_spec]  # type: ignore[type-arg,valid-type]
    date_click: rx.EventHandler[_date_spec]  # type: ignore[type-arg,valid-type]
    event_drop: rx.EventHandler[_change_spec]  # type: ignore[type-arg,valid-type]
    event_resize: rx.EventHandler[_change_spec]  # type: ignore[type-arg,valid-type]
    event_receive: rx.EventHandler[_change_spec]  # type: ignore[type-arg,valid-type]
    event_click: rx.EventHandler[_click_spec]  # type: ignore[type-arg,valid-type]
    dates_set: rx.EventHandler[_dates_spec]  # type: ignore[type-arg,valid-type]

    def add_imports(self) -> dict[str, list[ImportVar]]:  # type: ignore[override]
        return {lib: [ImportVar(tag=tag, is_default=True)] for lib, tag in PLUGINS.items()}

    @classmethod
    def create(cls, *children: Any, **props: Any) -> FullCalendar:
        props.setdefault(
            "plugins", Var(_js_expr="[timeGridPlugin, interactionPlugin, luxonPlugin]")
        )
        props.setdefault("header_toolbar", False)
        props.setdefault("all_day_slot", False)
        # Short visits are one row high: "09:00 Maria Garcia" fits where "09:00 - 09:20" did not.
        props.setdefault("display_event_end", False)
        props.setdefault("now_indicator", True)
        props.setdefault("first_day", 1)
        props.setdefault("slot_duration", "00:20:00")
        props.setdefault("snap_duration", "00:20:00")  # a click selects the row it hits
        props.setdefault("slot_min_time", "07:00:00")
        props.setdefault("slot_max_time", "20:00:00")
        props.setdefault("scroll_time", "08:00:00")
        props.setdefault(
            "day_header_format", {"weekday": "short", "day": "numeric", "month": "short"}
        )
        props.setdefault(
            "slot_label_format", {"hour": "2-digit", "minute": "2-digit", "hour12": False}
        )
        props.setdefault(
            "event_time_format", {"hour": "2-digit", "minute": "2-digit", "hour12": False}
        )
        return cast(FullCalendar, super().create(*children, **props))


fullcalendar = FullCalendar.create
