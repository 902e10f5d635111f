"""``/patients``: search the patients of the clinic, open one, export a summary or all data."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import FOCUS_RING, alert, empty_state, not_loaded, tinted_panel
from pages.components.shell import page_header, shell
from state.patients import PatientsState


def _search_box() -> rx.Component:
    return rx.input(
        rx.input.slot(rx.icon("search", size=16)),
        rx.cond(
            PatientsState.query != "",
            rx.input.slot(
                rx.icon_button(
                    rx.icon("x", size=14),
                    on_click=PatientsState.clear_search,
                    variant="ghost",
                    color_scheme="gray",
                    size="1",
                    aria_label="Clear search",
                ),
            ),
        ),
        value=PatientsState.query,
        on_change=PatientsState.search,
        debounce_timeout=250,
        placeholder="Search by name or MRN",
        size="3",
        width="100%",
        aria_label="Search patients by name or MRN",
        data_testid="patient-search",
    )


def _patient_row(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    is_selected = PatientsState.selected_row == row["id"]
    return rx.el.button(
        rx.flex(
            rx.avatar(fallback=row["initials"], size="2", radius="full", variant="soft"),
            rx.flex(
                rx.text(row["name"], size="2", weight="medium", truncate=True),
                rx.flex(
                    rx.text(row["mrn"], size="1", color_scheme="gray", white_space="nowrap"),
                    rx.cond(
                        row["phone"].to(str) != "",
                        rx.text(
                            "· " + row["phone"].to(str),
                            size="1",
                            color_scheme="gray",
                            white_space="nowrap",
                            truncate=True,
                        ),
                    ),
                    spacing="1",
                    min_width="0",
                ),
                direction="column",
                spacing="0",
                min_width="0",
                flex="1",
            ),
            rx.flex(
                rx.text(row["birth_date"], size="1", white_space="nowrap"),
                rx.text(row["age"], size="1", color_scheme="gray", white_space="nowrap"),
                direction="column",
                align="end",
                spacing="0",
                flex_shrink="0",
            ),
            rx.icon("chevron_right", size=16, color=rx.color("gray", 9), flex_shrink="0"),
            align="center",
            spacing="3",
            width="100%",
        ),
        # mypy cannot see through rx.event's overloaded __new__; pyright can.
        on_click=PatientsState.select_patient(row["id"]),  # type: ignore[operator]
        id="patient-" + row["id"].to(str),
        type="button",
        aria_label="Open " + row["name"].to(str),
        aria_pressed=is_selected,
        width="100%",
        text_align="left",
        border="none",
        font="inherit",
        color="inherit",
        padding="var(--space-2) var(--space-3)",
        border_radius="var(--radius-3)",
        cursor="pointer",
        background=rx.cond(is_selected, rx.color("accent", 3), "transparent"),
        _hover={"background": rx.cond(is_selected, rx.color("accent", 4), rx.color("gray", 3))},
        _focus_visible=FOCUS_RING,
        data_testid="patient-row",
    )


def _patient_list() -> rx.Component:
    return rx.card(
        rx.flex(
            _search_box(),
            rx.cond(
                ~PatientsState.loaded,
                not_loaded("patient list", PatientsState.load),
                rx.cond(
                    PatientsState.patients.length() > 0,
                    rx.flex(
                        rx.foreach(PatientsState.patients, _patient_row),
                        direction="column",
                        spacing="1",
                    ),
                    rx.cond(
                        PatientsState.query != "",
                        empty_state(
                            "search_x",
                            "No patients match",
                            "Nothing matches “" + PatientsState.query.to(str) + "”. "
                            "Search by first name, last name or MRN (PAT-…).",
                            testid="patients-no-match",
                        ),
                        empty_state(
                            "users",
                            "No patients yet",
                            "Patients of this clinic appear here once they are registered "
                            "at the front desk or book online.",
                            testid="patients-empty",
                        ),
                    ),
                ),
            ),
            direction="column",
            spacing="3",
        ),
        size="2",
        width="100%",
    )


def _fact(label: str, value: rx.Var, testid: str = "") -> rx.Component:
    return rx.flex(
        rx.text(label, size="1", color_scheme="gray", weight="medium"),
        rx.text(rx.cond(value.to(str) != "", value, "—"), size="2", data_testid=testid or None),
        direction="column",
        spacing="1",
    )


def _export_panel() -> rx.Component:
    status = PatientsState.job_status
    running = (status == "queued") | (status == "running")
    progress = rx.flex(
        rx.flex(
            rx.text(
                rx.cond(
                    PatientsState.job_message != "",
                    PatientsState.job_message,
                    rx.cond(status == "queued", "Waiting for a worker…", "Preparing the summary…"),
                ),
                size="2",
            ),
            rx.text(PatientsState.job_progress.to_string() + "%", size="2", color_scheme="gray"),
            justify="between",
            spacing="3",
        ),
        rx.progress(value=PatientsState.job_progress, max=100, size="2", duration="0.4s"),
        direction="column",
        spacing="2",
        data_testid="export-progress",
    )
    done = tinted_panel(
        "green",
        rx.flex(
            rx.flex(
                rx.icon("circle_check", size=18, color=rx.color("green", 11), flex_shrink="0"),
                rx.flex(
                    rx.text("Summary ready", size="2", weight="medium"),
                    rx.text(
                        PatientsState.download_name + " · link valid for 5 minutes",
                        size="1",
                        color_scheme="gray",
                    ),
                    direction="column",
                    spacing="0",
                    min_width="0",
                ),
                spacing="2",
                align="center",
                min_width="0",
            ),
            rx.flex(
                rx.link(
                    rx.button(rx.icon("download", size=16), "Download", size="2"),
                    href=PatientsState.download_url,
                    is_external=False,
                    download=PatientsState.download_name,
                    data_testid="download-link",
                ),
                rx.tooltip(
                    rx.icon_button(
                        rx.icon("refresh_cw", size=14),
                        on_click=PatientsState.refresh_link,
                        variant="soft",
                        color_scheme="gray",
                        aria_label="New download link",
                    ),
                    content="New link",
                ),
                spacing="2",
                align="center",
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        testid="export-done",
    )
    failed = tinted_panel(
        "red",
        rx.flex(
            rx.flex(
                rx.icon("circle_alert", size=18, flex_shrink="0"),
                rx.flex(
                    rx.text("The export failed", size="2", weight="medium"),
                    rx.text(
                        PatientsState.job_error,
                        size="1",
                        data_testid="export-error",
                    ),
                    rx.text(
                        "Attempts: " + PatientsState.job_attempts,
                        size="1",
                        color_scheme="gray",
                    ),
                    direction="column",
                    spacing="1",
                ),
                spacing="2",
                align="start",
            ),
            rx.button(
                rx.icon("rotate_ccw", size=16),
                "Retry",
                on_click=PatientsState.retry_export,
                color_scheme="red",
                variant="soft",
                data_testid="export-retry",
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        testid="export-failed",
        role="alert",
    )
    return rx.flex(
        rx.flex(
            rx.flex(
                rx.text("Exports", size="2", weight="bold"),
                rx.text(
                    "A summary as a Word document, or everything held on this patient as a ZIP.",
                    size="1",
                    color_scheme="gray",
                ),
                direction="column",
                spacing="0",
            ),
            rx.flex(
                rx.button(
                    rx.cond(running, rx.spinner(size="1"), rx.icon("file_down", size=16)),
                    rx.cond(running, "Exporting…", "Summary (DOCX)"),
                    on_click=PatientsState.start_export("summary"),
                    disabled=running,
                    variant="surface",
                    data_testid="export-docx",
                ),
                rx.button(
                    rx.icon("archive", size=16),
                    "All data (ZIP)",
                    on_click=PatientsState.start_export("archive"),
                    disabled=running,
                    variant="soft",
                    color_scheme="gray",
                    data_testid="export-zip",
                ),
                spacing="2",
                wrap="wrap",
            ),
            justify="between",
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.match(
            status,
            ("queued", progress),
            ("running", progress),
            ("succeeded", done),
            ("failed", failed),
            rx.fragment(),
        ),
        direction="column",
        spacing="3",
        padding="var(--space-4)",
        border_radius="var(--radius-3)",
        background=rx.color("gray", 2),
        border=f"1px solid {rx.color('gray', 4)}",
    )


def _detail() -> rx.Component:
    # mypy resolves reflex's Field overloads for dict vars wrongly (pyright gets them right).
    selected = cast("ObjectVar[dict[str, Any]]", PatientsState.selected)
    return rx.card(
        rx.flex(
            rx.flex(
                rx.avatar(
                    fallback=selected["initials"].to(str), size="5", radius="full", variant="soft"
                ),
                rx.flex(
                    rx.heading(
                        selected["name"].to(str),
                        size="5",
                        as_="h2",
                        data_testid="patient-detail-name",
                    ),
                    rx.flex(
                        rx.badge(selected["mrn"].to(str), variant="surface"),
                        rx.text(
                            selected["age"].to(str) + " · " + selected["sex"].to(str),
                            size="2",
                            color_scheme="gray",
                        ),
                        spacing="2",
                        align="center",
                        wrap="wrap",
                    ),
                    direction="column",
                    spacing="1",
                    flex="1",
                    min_width="0",
                ),
                rx.icon_button(
                    rx.icon("x", size=16),
                    on_click=PatientsState.close_patient,
                    variant="ghost",
                    color_scheme="gray",
                    aria_label="Close patient",
                ),
                spacing="4",
                align="center",
            ),
            rx.grid(
                _fact("Date of birth", selected["birth_date"].to(str)),
                _fact("Phone", selected["phone"].to(str)),
                _fact("Email", selected["email"].to(str)),
                _fact("Next appointment", selected["next_appointment"].to(str)),
                columns="2",
                spacing="4",
            ),
            rx.cond(
                selected["can_export"].to(bool),
                rx.link(
                    rx.button(rx.icon("clipboard_list", size=16), "Open chart", width="100%"),
                    href="/chart?patient=" + selected["id"].to(str),
                    data_testid="open-chart",
                ),
            ),
            rx.cond(
                selected["can_export"].to(bool),
                _export_panel(),
            ),
            direction="column",
            spacing="5",
        ),
        size="3",
        width="100%",
        data_testid="patient-detail",
    )


def _no_selection() -> rx.Component:
    return rx.card(
        empty_state(
            "user_round",
            "Select a patient",
            "Pick a patient from the list to see their details, upcoming visits and "
            "to export a summary.",
            testid="patient-detail-empty",
        ),
        size="2",
        width="100%",
    )


def _register_field(label: str, name: str, **props: Any) -> rx.Component:
    return rx.flex(
        rx.text(label, size="1", weight="medium"),
        rx.input(name=name, **props),
        direction="column",
        spacing="1",
    )


def _duplicate(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.text(
            row["name"].to(str),
            " · ",
            row["mrn"].to(str),
            " · ",
            row["birth_date"].to(str),
            size="2",
        ),
        rx.button(
            "Use existing",
            size="1",
            type="button",
            on_click=PatientsState.use_existing(row["id"].to(str)),
            data_testid="use-existing",
        ),
        justify="between",
        align="center",
    )


def _register_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(rx.icon("user_plus", size=16), "New patient", data_testid="new-patient")
        ),
        rx.dialog.content(
            rx.dialog.title("Register a patient"),
            rx.form(
                rx.flex(
                    rx.grid(
                        _register_field(
                            "Given name *", "given_name", required=True, data_testid="reg-given"
                        ),
                        _register_field(
                            "Family name *", "family_name", required=True, data_testid="reg-family"
                        ),
                        _register_field(
                            "Date of birth", "birth_date", type="date", data_testid="reg-dob"
                        ),
                        rx.flex(
                            rx.text("Sex", size="1", weight="medium"),
                            rx.select(
                                ["female", "male", "other", "unknown"], name="sex", placeholder="—"
                            ),
                            direction="column",
                            spacing="1",
                        ),
                        _register_field("Phone", "phone", type="tel", data_testid="reg-phone"),
                        _register_field("Email", "email", type="email"),
                        _register_field("Address", "address"),
                        _register_field(
                            "Preferred language", "preferred_language", placeholder="en"
                        ),
                        _register_field("Emergency contact", "emergency_contact"),
                        _register_field("Insurance", "insurance"),
                        rx.flex(
                            rx.text("Blood group", size="1", weight="medium"),
                            rx.select(
                                ["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"],
                                name="blood_group",
                                placeholder="—",
                            ),
                            direction="column",
                            spacing="1",
                        ),
                        columns=rx.breakpoints(initial="1", sm="2"),
                        spacing="3",
                    ),
                    alert(PatientsState.register_error, testid="register-error", color="amber"),
                    rx.cond(
                        PatientsState.duplicates.length() > 0,
                        rx.flex(
                            rx.foreach(PatientsState.duplicates, _duplicate),
                            rx.button(
                                "It is a different person — register anyway",
                                type="button",
                                variant="soft",
                                color_scheme="gray",
                                on_click=PatientsState.register_anyway,
                                data_testid="register-anyway",
                            ),
                            direction="column",
                            spacing="2",
                        ),
                    ),
                    rx.flex(
                        rx.dialog.close(
                            rx.button("Cancel", type="button", variant="soft", color_scheme="gray")
                        ),
                        rx.button("Register", type="submit", data_testid="register-submit"),
                        justify="end",
                        spacing="2",
                    ),
                    direction="column",
                    spacing="4",
                ),
                on_submit=PatientsState.register,
                reset_on_submit=False,
            ),
            max_width="640px",
        ),
        open=PatientsState.register_open,
        on_open_change=PatientsState.set_register_open,
    )


def patients_page() -> rx.Component:
    return shell(
        "patients",
        page_header(
            "Patients",
            rx.text(
                rx.cond(
                    PatientsState.loaded,
                    PatientsState.patients.length().to_string() + " shown · this clinic only",
                    "Patients of this clinic",
                ),
                color_scheme="gray",
                size="2",
            ),
            rx.cond(PatientsState.can_register, _register_dialog()),
        ),
        rx.flex(
            rx.box(_patient_list(), width=["100%", "100%", "100%", "100%", "44%"]),
            rx.cond(
                PatientsState.selected_row != "",
                rx.box(
                    _detail(),
                    width=["100%", "100%", "100%", "100%", "56%"],
                    position=["static", "static", "static", "static", "sticky"],
                    top="24px",
                ),
                rx.box(
                    _no_selection(),
                    width="56%",
                    display=["none", "none", "none", "none", "block"],
                ),
            ),
            direction=rx.breakpoints(initial="column-reverse", lg="row"),
            spacing="4",
            align="start",
            width="100%",
        ),
    )
