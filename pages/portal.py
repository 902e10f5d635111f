"""``/portal/login`` and ``/portal``: the patient portal (one-time code, own record only)."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert
from pages.components.shell import logo
from state.portal import PortalState


def _frame(*children: rx.Component) -> rx.Component:
    return rx.center(
        rx.flex(
            rx.flex(
                logo("40px"),
                rx.heading("Patient portal", size="6", as_="h1"),
                direction="column",
                align="center",
                spacing="2",
            ),
            *children,
            direction="column",
            spacing="5",
            width="100%",
            max_width="560px",
            padding_x="var(--space-4)",
            padding_y="var(--space-8)",
        ),
        min_height="100vh",
        width="100%",
        background=rx.color("gray", 2),
    )


def _error() -> rx.Component:
    return alert(PortalState.portal_error, testid="portal-error")


def _email_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.text(
                "Enter the email address your clinic has for you. We send you a 6-digit code.",
                size="2",
            ),
            rx.input(
                name="email",
                type="email",
                placeholder="you@example.com",
                auto_complete="email",
                required=True,
                read_only=~PortalState.is_hydrated,
                size="3",
                data_testid="portal-email",
            ),
            _error(),
            # Until React takes over, Enter would submit the prerendered form natively.
            rx.button(
                "Send me a code",
                type="submit",
                size="3",
                disabled=~PortalState.is_hydrated,
                data_testid="portal-send",
            ),
            direction="column",
            spacing="3",
        ),
        on_submit=PortalState.request_code,
        reset_on_submit=False,
    )


def _code_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.callout.root(
                rx.callout.icon(rx.icon("mail", size=16)),
                rx.callout.text(PortalState.portal_message),
                variant="soft",
                size="1",
                data_testid="portal-sent",
            ),
            rx.input(
                name="code",
                placeholder="6-digit code",
                auto_complete="one-time-code",
                input_mode="numeric",
                auto_focus=True,
                required=True,
                size="3",
                data_testid="portal-code",
            ),
            _error(),
            rx.button(
                "Sign in",
                type="submit",
                size="3",
                loading=PortalState.busy,
                data_testid="portal-verify",
            ),
            rx.button(
                "Use another email or send a new code",
                type="button",
                variant="ghost",
                on_click=PortalState.use_other_email,
            ),
            direction="column",
            spacing="3",
        ),
        on_submit=PortalState.verify_code,
        reset_on_submit=True,
    )


def portal_login_page() -> rx.Component:
    return _frame(
        rx.card(rx.cond(PortalState.code_sent, _code_form(), _email_form()), size="4"),
        rx.link("Clinic staff? Sign in here", href="/login", size="2", align="center"),
    )


def _appointment(item: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.text(item["when"], weight="medium", size="2"),
            rx.text(item["provider"], " · ", item["visit_type"], size="1", color_scheme="gray"),
            direction="column",
        ),
        rx.flex(
            rx.badge(
                item["status"],
                variant="soft",
                color_scheme=rx.cond(
                    (item["status"].to(str) == "Cancelled") | (item["status"].to(str) == "No-show"),
                    "gray",
                    "teal",
                ),
            ),
            rx.cond(
                item["can_cancel"].to(str) != "",
                rx.button(
                    "Cancel",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=PortalState.open_cancel(item["id"]),
                    aria_label="Cancel appointment " + item["when"].to(str),
                    data_testid="portal-cancel",
                ),
            ),
            spacing="2",
            align="center",
        ),
        justify="between",
        align="center",
        padding_y="var(--space-2)",
        border_top=f"1px solid {rx.color('gray', 4)}",
        data_testid="portal-appointment",
    )


def portal_page() -> rx.Component:
    return _frame(
        rx.card(
            rx.flex(
                rx.flex(
                    rx.flex(
                        rx.heading(PortalState.patient_name, size="5", data_testid="portal-name"),
                        rx.text(
                            PortalState.patient_clinic,
                            " · ",
                            PortalState.mrn,
                            size="2",
                            color_scheme="gray",
                        ),
                        direction="column",
                    ),
                    rx.button(
                        rx.icon("log_out", size=14),
                        "Sign out",
                        variant="soft",
                        color_scheme="gray",
                        on_click=PortalState.portal_sign_out,
                        data_testid="portal-sign-out",
                    ),
                    justify="between",
                    align="center",
                ),
                alert(
                    PortalState.booking_notice,
                    testid="portal-booking-notice",
                    color="green",
                    icon="circle_check",
                ),
                rx.heading("Upcoming appointments", size="3", as_="h2", id="portal-upcoming"),
                rx.cond(
                    PortalState.upcoming.length() > 0,
                    rx.foreach(PortalState.upcoming, _appointment),
                    rx.text("No upcoming appointments.", size="2", color_scheme="gray"),
                ),
                rx.cond(
                    ~PortalState.booking_enabled,
                    rx.text(
                        "To book or change an appointment, please contact the clinic.",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                rx.heading("Past visits", size="3", as_="h2"),
                rx.cond(
                    PortalState.past.length() > 0,
                    rx.foreach(PortalState.past, _appointment),
                    rx.text("No past visits yet.", size="2", color_scheme="gray"),
                ),
                direction="column",
                spacing="3",
            ),
            size="4",
        ),
        rx.cond(PortalState.booking_enabled, _booking()),
        _prescriptions(),
        _reports(),
        _prescription_dialog(),
        _cancel_dialog(),
    )


def _reports() -> rx.Component:
    """Signed visit reports the doctor shared with the patient."""
    return rx.card(
        rx.flex(
            rx.heading("My visit reports", size="5", as_="h2"),
            alert(PortalState.report_error, testid="portal-report-error"),
            rx.cond(
                PortalState.shared_reports.length() > 0,
                rx.foreach(
                    PortalState.shared_reports,
                    lambda r: rx.flex(
                        rx.flex(
                            rx.text(r["title"], weight="medium"),
                            rx.text(r["signed_at"], size="2", color_scheme="gray"),
                            rx.spacer(),
                            rx.cond(
                                r["has_docx"] != "",
                                rx.button(
                                    "Download",
                                    size="1",
                                    variant="soft",
                                    on_click=PortalState.download_report(r["id"]),
                                ),
                            ),  # fmt: skip
                            spacing="3",
                            align="center",
                        ),
                        rx.text(r["text"], size="2", white_space="pre-wrap"),
                        direction="column",
                        spacing="2",
                        data_testid="portal-report",
                    ),
                ),
                rx.text(
                    "Your doctor has not shared a report with you yet.",
                    size="3",
                    color_scheme="gray",
                ),  # fmt: skip
            ),
            direction="column",
            spacing="3",
        ),
        size="4",
        data_testid="portal-reports",
    )


def _prescription_row(item: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.button(
        rx.flex(
            rx.flex(
                rx.text(item["medicines"], weight="medium", size="3", align="left"),
                rx.text(
                    item["date"],
                    " · ",
                    item["doctor"],
                    " · ",
                    item["number"],
                    size="2",
                    color_scheme="gray",
                    align="left",
                ),  # fmt: skip
                direction="column",
                align="start",
            ),
            rx.badge(item["status_label"], variant="soft", size="2"),
            justify="between",
            align="center",
            width="100%",
            gap="2",
        ),
        variant="ghost",
        height="auto",
        padding_y="var(--space-3)",
        width="100%",
        on_click=PortalState.open_prescription(item["id"]),
        aria_label="Open prescription " + item["number"].to(str),
        data_testid="portal-prescription",
    )


def _prescriptions() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("My prescriptions", size="5", as_="h2"),
            rx.heading("Active", size="3", as_="h3"),
            rx.cond(
                PortalState.active_prescriptions.length() > 0,
                rx.flex(
                    rx.foreach(PortalState.active_prescriptions, _prescription_row),
                    direction="column",
                    spacing="1",
                ),
                rx.text("No active prescriptions.", size="3", color_scheme="gray"),
            ),
            rx.heading("History", size="3", as_="h3"),
            rx.cond(
                PortalState.past_prescriptions.length() > 0,
                rx.flex(
                    rx.foreach(PortalState.past_prescriptions, _prescription_row),
                    direction="column",
                    spacing="1",
                ),
                rx.text("No earlier prescriptions.", size="3", color_scheme="gray"),
            ),
            direction="column",
            spacing="3",
        ),
        size="4",
        data_testid="portal-prescriptions",
    )


def _prescription_item(item: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.text(item["name"], weight="bold", size="4"),
        rx.text(item["plain"], size="3"),
        rx.cond(item["plain_local"].to(str) != "", rx.text(item["plain_local"], size="3")),
        rx.cond(item["instructions"].to(str) != "", rx.text(item["instructions"], size="3")),
        rx.text(
            "Quantity: ",
            item["quantity"],
            " · Refills: ",
            item["refills"],
            size="2",
            color_scheme="gray",
        ),  # fmt: skip
        direction="column",
        spacing="1",
        padding_y="var(--space-2)",
        border_top=f"1px solid {rx.color('gray', 4)}",
    )


def _prescription_dialog() -> rx.Component:
    rx_view = cast("ObjectVar[dict[str, Any]]", PortalState.prescription)
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Prescription ", rx_view["number"].to(str)),
            rx.dialog.description(
                rx_view["status_label"].to(str),
                " · signed ",
                rx_view["signed_at"].to(str),
                " by ",
                rx_view["doctor"].to(str),
                size="3",
            ),  # fmt: skip
            rx.flex(
                rx.foreach(rx_view["items"].to(list[dict[str, str]]), _prescription_item),
                alert(PortalState.prescription_error, testid="portal-rx-error"),
                rx.flex(
                    rx.dialog.close(
                        rx.button("Close", variant="soft", color_scheme="gray", size="3")
                    ),  # fmt: skip
                    rx.button(
                        rx.icon("download", size=16),
                        "Download PDF",
                        size="3",
                        on_click=PortalState.download_prescription,
                        data_testid="portal-rx-pdf",
                    ),
                    justify="end",
                    spacing="2",
                    wrap="wrap",
                ),
                direction="column",
                spacing="3",
                margin_top="var(--space-3)",
            ),
            max_width="560px",
            data_testid="portal-rx-detail",
        ),
        open=PortalState.prescription_open,
        on_open_change=PortalState.prescription_dialog_changed,
    )


# ---- self-booking ----------------------------------------------------------------------------


def _chosen() -> ObjectVar[dict[str, str]]:
    return cast("ObjectVar[dict[str, str]]", PortalState.chosen_slot)


def _slot_button(slot: ObjectVar[dict[str, str]]) -> rx.Component:
    chosen = _chosen()["key"].to(str) == slot["key"].to(str)
    return rx.button(
        slot["time"],
        size="2",
        variant=rx.cond(chosen, "solid", "surface"),
        on_click=PortalState.choose_slot(slot["key"]),
        aria_label=slot["label"],
        aria_pressed=chosen,
        disabled=PortalState.booking_busy,
        data_testid="portal-slot",
    )


def _slot_day(day: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.text(day["day"].to(str), size="2", weight="medium"),
        rx.flex(
            rx.foreach(day["slots"].to(list[dict[str, str]]), _slot_button),
            wrap="wrap",
            gap="2",
        ),
        direction="column",
        spacing="1",
        role="group",
        aria_label="Free times on " + day["day"].to(str),
        data_testid="portal-slot-day",
    )


def _slots() -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.button(
                rx.icon("chevron_left", size=14),
                "Earlier",
                size="1",
                variant="soft",
                color_scheme="gray",
                disabled=~PortalState.slot_has_earlier | PortalState.slots_loading,
                on_click=PortalState.shift_slots(-1),
                data_testid="portal-slots-earlier",
            ),
            rx.text(PortalState.slot_window, size="2", weight="medium", aria_live="polite"),
            rx.button(
                "Later",
                rx.icon("chevron_right", size=14),
                size="1",
                variant="soft",
                color_scheme="gray",
                disabled=~PortalState.slot_has_later | PortalState.slots_loading,
                on_click=PortalState.shift_slots(1),
                data_testid="portal-slots-later",
            ),
            justify="between",
            align="center",
        ),
        alert(PortalState.booking_error, testid="portal-booking-error"),
        rx.cond(
            PortalState.slots_loading,
            rx.center(rx.spinner(size="2"), padding="var(--space-4)"),
            rx.cond(
                PortalState.slot_days.length() > 0,
                rx.flex(
                    rx.foreach(PortalState.slot_days, _slot_day),
                    direction="column",
                    spacing="3",
                ),
                rx.text(
                    "No free times in these days.",
                    rx.cond(PortalState.slot_has_later, " Try later dates.", ""),
                    size="2",
                    color_scheme="gray",
                    data_testid="portal-no-slots",
                ),
            ),
        ),
        rx.text(
            "Times are in the clinic's time zone (",
            PortalState.booking_timezone,
            ").",
            size="1",
            color_scheme="gray",
        ),
        direction="column",
        spacing="3",
    )


def _confirm_dialog() -> rx.Component:
    """Confirm a chosen time in a dialog: it opens where the patient is, however long the list."""
    slot = _chosen()
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Book this appointment?"),
            rx.dialog.description(
                rx.text.strong(slot["visit_type"].to(str)),
                " on ",
                rx.text.strong(slot["day"].to(str), " at ", slot["time"].to(str)),
                " with ",
                slot["provider"].to(str),
                ".",
                size="3",
                data_testid="portal-chosen-slot",
            ),
            rx.flex(
                rx.dialog.close(
                    rx.button(
                        "Choose another time",
                        variant="soft",
                        color_scheme="gray",
                        disabled=PortalState.booking_busy,
                    )
                ),
                rx.button(
                    "Book this time",
                    loading=PortalState.booking_busy,
                    disabled=PortalState.booking_busy,
                    on_click=PortalState.confirm_booking,
                    auto_focus=True,
                    data_testid="portal-book",
                ),
                spacing="2",
                justify="end",
                wrap="wrap",
                margin_top="var(--space-4)",
            ),
            max_width="440px",
            data_testid="portal-confirm-dialog",
        ),
        open=slot.length() > 0,
        on_open_change=PortalState.confirm_dialog_changed,
    )


def _booking() -> rx.Component:
    """Visit type → doctor (or any) → a free time → confirm. Slots show times only."""
    return rx.card(
        rx.flex(
            rx.heading("Book an appointment", size="5", as_="h2"),
            rx.text("1. What do you need?", size="2", weight="medium", id="portal-type-label"),
            rx.radio_cards.root(
                rx.foreach(
                    PortalState.booking_types,
                    lambda v: rx.radio_cards.item(
                        rx.flex(
                            rx.text(v["name"], weight="medium", size="2"),
                            rx.text(v["minutes"], " min", size="1", color_scheme="gray"),
                            direction="column",
                        ),
                        value=v["code"].to(str),
                        data_testid="portal-visit-type",
                    ),
                ),
                value=PortalState.booking_type,
                on_value_change=PortalState.pick_visit_type,
                columns=rx.breakpoints(initial="1", xs="2", sm="3"),
                aria_labelledby="portal-type-label",
            ),
            rx.cond(
                PortalState.booking_type != "",
                rx.flex(
                    rx.text("2. With whom?", size="2", weight="medium"),
                    rx.select.root(
                        rx.select.trigger(
                            aria_label="Doctor", data_testid="portal-doctor", width="100%"
                        ),
                        rx.select.content(
                            rx.select.item("Any available doctor", value="any"),
                            rx.foreach(
                                PortalState.booking_doctors,
                                lambda d: rx.select.item(d["name"], value=d["id"].to(str)),
                            ),
                        ),
                        value=PortalState.booking_doctor,
                        on_change=PortalState.pick_doctor,
                    ),
                    rx.text("3. Pick a time", size="2", weight="medium", id="portal-pick-time"),
                    _slots(),
                    direction="column",
                    spacing="3",
                ),
            ),
            rx.cond(
                PortalState.booking_type == "",
                alert(PortalState.booking_error, testid="portal-booking-error"),
            ),
            _confirm_dialog(),
            direction="column",
            spacing="3",
        ),
        size="4",
        data_testid="portal-booking",
    )


def _cancel_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Cancel appointment"),
            rx.dialog.description(PortalState.cancel_label, size="2"),
            rx.form(
                rx.flex(
                    rx.text(
                        "Why do you cancel?",
                        as_="label",
                        size="2",
                        weight="medium",
                        html_for="portal-cancel-reason",
                    ),  # fmt: skip
                    rx.text_area(
                        name="reason",
                        id="portal-cancel-reason",
                        required=True,
                        max_length=250,
                        placeholder="For example: I feel better, or I cannot make it.",
                        auto_focus=True,
                        data_testid="portal-cancel-reason",
                    ),
                    alert(PortalState.cancel_error, testid="portal-cancel-error"),
                    rx.flex(
                        rx.dialog.close(
                            rx.button(
                                "Keep appointment",
                                type="button",
                                variant="soft",
                                color_scheme="gray",
                                disabled=PortalState.cancel_busy,
                            )
                        ),
                        rx.button(
                            "Cancel appointment",
                            type="submit",
                            color_scheme="red",
                            loading=PortalState.cancel_busy,
                            disabled=PortalState.cancel_busy,
                            data_testid="portal-cancel-confirm",
                        ),
                        justify="end",
                        spacing="2",
                        wrap="wrap",
                    ),
                    direction="column",
                    spacing="3",
                    margin_top="var(--space-3)",
                ),
                on_submit=PortalState.confirm_cancel,
                reset_on_submit=False,
            ),
            max_width="480px",
            data_testid="portal-cancel-dialog",
        ),
        open=PortalState.cancel_open,
        on_open_change=PortalState.cancel_dialog_changed,
    )
