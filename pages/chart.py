"""``/chart?patient=<id>``: one patient's chart — header, allergies, problems, medications,
vitals and the timeline (clinical staff; opening it is an audited read)."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert, empty_state
from pages.components.shell import shell
from state.chart import ChartState

KIND_LABELS = {
    "all": "All",
    "appointment": "Appointments",
    "encounter": "Visits",
    "allergy": "Allergies",
    "problem": "Problems",
    "vitals": "Vitals",
    "study": "Studies",
    "file": "Files",
    "prescription": "Prescriptions",
    "scribe": "Recordings",
    "report": "Reports",
    "record": "Drawings",
}
KIND_ICONS = {
    "appointment": "calendar_days",
    "encounter": "stethoscope",
    "allergy": "triangle_alert",
    "problem": "clipboard_list",
    "vitals": "activity",
    "study": "microscope",
    "file": "paperclip",
    "prescription": "pill",
    "scribe": "mic",
    "report": "file_text",
    "record": "pen_tool",
}


def _edit_field(label: str, name: str, **props: Any) -> rx.Component:
    details = cast("ObjectVar[dict[str, str]]", ChartState.details)
    return rx.flex(
        rx.text(label, size="1", weight="medium"),
        rx.input(name=name, default_value=details[name].to(str), **props),
        direction="column",
        spacing="1",
    )


def _edit_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.trigger(
            rx.button(
                rx.icon("pencil", size=14),
                "Edit details",
                size="1",
                variant="soft",
                data_testid="edit-details",
            )
        ),
        rx.dialog.content(
            rx.dialog.title("Patient details"),
            rx.form(
                rx.flex(
                    rx.grid(
                        _edit_field("Given name *", "given_name", required=True),
                        _edit_field("Family name *", "family_name", required=True),
                        _edit_field("Date of birth", "birth_date", type="date"),
                        _edit_field("Sex (female/male/other/unknown)", "sex"),
                        _edit_field("Phone", "phone", type="tel", data_testid="edit-phone"),
                        _edit_field("Email", "email", type="email"),
                        _edit_field("Address", "address"),
                        _edit_field("Preferred language", "preferred_language"),
                        _edit_field("Emergency contact", "emergency_contact"),
                        _edit_field("Insurance", "insurance"),
                        _edit_field("Blood group", "blood_group"),
                        columns=rx.breakpoints(initial="1", sm="2"),
                        spacing="3",
                    ),
                    alert(ChartState.edit_error, testid="edit-error"),
                    rx.flex(
                        rx.dialog.close(
                            rx.button("Cancel", type="button", variant="soft", color_scheme="gray")
                        ),
                        rx.button("Save", type="submit", data_testid="edit-save"),
                        justify="end",
                        spacing="2",
                    ),
                    direction="column",
                    spacing="4",
                ),
                on_submit=ChartState.save_details,
                reset_on_submit=False,
            ),
            max_width="640px",
        ),
        open=ChartState.edit_open,
        on_open_change=ChartState.set_edit_open,
    )


def _header() -> rx.Component:
    info = cast("ObjectVar[dict[str, Any]]", ChartState.chart)
    return rx.card(
        rx.flex(
            rx.flex(
                rx.heading(info["name"].to(str), size="6", as_="h1", data_testid="chart-name"),
                rx.flex(
                    rx.badge(info["mrn"].to(str), variant="surface"),
                    rx.text(
                        info["age"].to(str),
                        " · ",
                        info["sex"].to(str),
                        " · born ",
                        info["birth_date"].to(str),
                        size="2",
                        color_scheme="gray",
                    ),
                    rx.cond(
                        info["blood_group"].to(str) != "",
                        rx.badge("Blood ", info["blood_group"].to(str), color_scheme="gray"),
                    ),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.text(
                    info["phone"].to(str),
                    "  ",
                    info["email"].to(str),
                    size="2",
                    color_scheme="gray",
                ),
                direction="column",
                spacing="2",
            ),
            rx.flex(
                rx.cond(
                    ChartState.user_role == "doctor",
                    rx.link(
                        rx.button(rx.icon("mic", size=14), "Record consultation", variant="soft"),
                        href="/scribe?patient=" + ChartState.patient_ref,
                        data_testid="chart-scribe",
                    ),
                ),
                rx.link(
                    rx.button(rx.icon("pill", size=14), "Prescriptions", variant="soft"),
                    href="/prescriptions?patient=" + ChartState.patient_ref,
                    data_testid="chart-prescriptions",
                ),
                rx.link(
                    rx.button(rx.icon("pen_tool", size=14), "Drawings", variant="soft"),
                    href="/records?patient=" + ChartState.patient_ref,
                    data_testid="chart-records",
                ),
                _allergy_badge(),
                spacing="3",
                align="center",
            ),
            justify="between",
            align="start",
            wrap="wrap",
            gap="3",
        ),
        size="3",
    )


def _allergy_badge() -> rx.Component:
    return rx.cond(
        ChartState.active_allergy_count > 0,
        rx.badge(
            rx.icon("triangle_alert", size=14),
            ChartState.active_allergy_count,
            " allerg",
            rx.cond(ChartState.active_allergy_count == 1, "y", "ies"),
            color_scheme="red",
            size="3",
            data_testid="allergy-badge",
        ),
        rx.badge("No known allergies", color_scheme="green", size="3", variant="soft"),
    )


def _section(title: str, icon: str, *children: rx.Component, testid: str) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.icon(icon, size=16),
                rx.heading(title, size="3", as_="h2"),
                spacing="2",
                align="center",
            ),
            *children,
            direction="column",
            spacing="3",
        ),
        size="2",
        data_testid=testid,
    )


def _inline_form(on_submit: Any, *fields: rx.Component, button: str, testid: str) -> rx.Component:
    return rx.cond(
        ChartState.can_edit,
        rx.form(
            rx.flex(
                *fields,
                rx.button(button, type="submit", size="2", variant="soft", data_testid=testid),
                spacing="2",
                wrap="wrap",
                align="center",
            ),
            on_submit=on_submit,
            reset_on_submit=True,
        ),
    )


def _allergy(row: ObjectVar[dict[str, str]]) -> rx.Component:
    active = row["status"] == "active"
    return rx.flex(
        rx.flex(
            rx.text(row["substance"], weight="bold", size="2"),
            rx.text(row["reaction"], size="1", color_scheme="gray"),
            direction="column",
        ),
        rx.flex(
            rx.cond(
                row["coded"] != "",
                rx.tooltip(
                    rx.badge(
                        rx.icon("pill", size=12),
                        row["coded"],
                        variant="outline",
                        data_testid="allergy-coded",
                    ),
                    content="Matched to the medication catalog: prescriptions are checked",
                ),
                rx.tooltip(
                    rx.badge("not coded", variant="outline", color_scheme="gray"),
                    content="Not in the medication catalog: prescriptions cannot be checked "
                    "against it automatically",
                ),
            ),  # fmt: skip
            rx.badge(row["severity"], color_scheme=rx.cond(active, "red", "gray")),
            rx.cond(
                ChartState.can_edit,
                rx.button(
                    rx.cond(active, "Resolve", "Reactivate"),
                    size="1",
                    variant="ghost",
                    on_click=ChartState.set_allergy_status(
                        row["id"], rx.cond(active, "resolved", "active"), row["version"]
                    ),
                ),
            ),
            rx.cond(~active, rx.badge(row["status"], variant="outline", color_scheme="gray")),
            _remove_button("allergy", row, "substance"),
            spacing="2",
            align="center",
        ),
        justify="between",
        align="center",
        opacity=rx.cond(active, "1", "0.6"),
        data_testid="allergy-row",
    )


def _allergies() -> rx.Component:
    return _section(
        "Allergies",
        "triangle_alert",
        rx.cond(
            ChartState.allergies.length() > 0,
            rx.flex(rx.foreach(ChartState.allergies, _allergy), direction="column", spacing="2"),
            rx.text("No allergies recorded.", size="2", color_scheme="gray"),
        ),
        _inline_form(
            ChartState.add_allergy,
            rx.input(
                name="substance",
                placeholder="Substance (e.g. Penicillin)",
                required=True,
                data_testid="allergy-substance",
            ),
            rx.input(name="reaction", placeholder="Reaction"),
            rx.select(
                ["mild", "moderate", "severe", "life_threatening"],
                name="severity",
                default_value="moderate",
            ),
            button="Add allergy",
            testid="allergy-add",
        ),
        testid="chart-allergies",
    )


def _remove_button(kind: str, row: ObjectVar[dict[str, str]], label_field: str) -> rx.Component:
    return rx.cond(
        ChartState.can_edit,
        rx.icon_button(
            rx.icon("trash_2", size=14),
            size="1",
            variant="ghost",
            color_scheme="gray",
            aria_label="Remove (entered in error)",
            on_click=ChartState.ask_remove(kind, row["id"], row[label_field]),
            data_testid=f"remove-{kind}",
        ),
    )


def _remove_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Remove from the chart"),
            rx.form(
                rx.flex(
                    rx.text(
                        "Remove “",
                        ChartState.remove_label,
                        "”? It stays in the audit trail.",
                        size="2",
                    ),
                    rx.input(
                        name="reason",
                        placeholder="Reason (e.g. entered in error)",
                        required=True,
                        data_testid="remove-reason",
                    ),
                    alert(ChartState.remove_error, testid="remove-error"),
                    rx.flex(
                        rx.button(
                            "Cancel",
                            type="button",
                            variant="soft",
                            color_scheme="gray",
                            on_click=ChartState.cancel_remove,
                        ),
                        rx.button(
                            "Remove",
                            type="submit",
                            color_scheme="red",
                            data_testid="remove-confirm",
                        ),
                        justify="end",
                        spacing="2",
                    ),
                    direction="column",
                    spacing="3",
                ),
                on_submit=ChartState.confirm_remove,
                reset_on_submit=True,
            ),
            max_width="440px",
        ),
        open=ChartState.remove_label != "",
    )


def _simple_list(items: rx.Var, main: str, extra: str, removable: str = "") -> rx.Component:
    return rx.cond(
        items.length() > 0,
        rx.flex(
            rx.foreach(
                items,
                lambda row: rx.flex(
                    rx.text(row[main], size="2", weight="medium"),
                    rx.flex(
                        rx.text(row[extra], size="1", color_scheme="gray"),
                        _remove_button(removable, row, main) if removable else rx.fragment(),
                        spacing="2",
                        align="center",
                    ),
                    justify="between",
                    align="center",
                ),
            ),
            direction="column",
            spacing="2",
        ),
        rx.text("Nothing recorded.", size="2", color_scheme="gray"),
    )


def _vitals() -> rx.Component:
    def number(name: str, label: str, width: str = "90px") -> rx.Component:
        return rx.input(name=name, placeholder=label, input_mode="decimal", width=width)

    return _section(
        "Vitals",
        "activity",
        _inline_form(
            ChartState.record_vitals,
            number("systolic", "Sys"),
            number("diastolic", "Dia"),
            number("heart_rate", "HR"),
            number("temperature_c", "Temp °C"),
            number("spo2", "SpO2 %"),
            number("weight_kg", "Weight kg", "100px"),
            button="Record",
            testid="vitals-add",
        ),
        _simple_list(ChartState.vitals, "text", "when"),
        testid="chart-vitals",
    )


def _study(row: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.flex(
                rx.badge(row["type"].to(str), variant="soft"),
                rx.text(row["title"].to(str), size="2", weight="medium"),
                spacing="2",
                align="center",
            ),
            rx.flex(
                rx.text(row["when"].to(str), size="1", color_scheme="gray"),
                _remove_button("study", row, "title"),  # type: ignore[arg-type]
                spacing="2",
                align="center",
            ),
            justify="between",
        ),
        rx.cond(
            row["narrative"].to(str) != "",
            rx.text(row["narrative"].to(str), size="2", white_space="pre-wrap"),
        ),
        rx.flex(
            rx.foreach(
                row["findings"].to(list[str]), lambda f: rx.code(f, size="1", variant="soft")
            ),
            wrap="wrap",
            spacing="2",
        ),
        direction="column",
        spacing="1",
        data_testid="study-row",
    )


def _studies() -> rx.Component:
    return _section(
        "Studies",
        "microscope",
        rx.cond(
            ChartState.studies.length() > 0,
            rx.flex(rx.foreach(ChartState.studies, _study), direction="column", spacing="3"),
            rx.text("No studies yet.", size="2", color_scheme="gray"),
        ),
        rx.cond(
            ChartState.can_edit,
            rx.form(
                rx.flex(
                    rx.flex(
                        rx.select(
                            ["lab", "imaging", "ecg", "pathology", "other"],
                            name="study_type",
                            default_value="lab",
                        ),
                        rx.input(
                            name="title",
                            placeholder="Title (e.g. HbA1c, chest X-ray)",
                            required=True,
                            flex="1",
                            data_testid="study-title",
                        ),
                        spacing="2",
                    ),
                    rx.text_area(name="narrative", placeholder="Narrative / impression", rows="2"),
                    rx.text_area(
                        name="findings",
                        placeholder="Findings, one per line: HbA1c: 6.1 %",
                        rows="2",
                        data_testid="study-findings",
                    ),
                    rx.button(
                        "Add study",
                        type="submit",
                        size="2",
                        variant="soft",
                        data_testid="study-add",
                    ),
                    direction="column",
                    spacing="2",
                ),
                on_submit=ChartState.add_study,
                reset_on_submit=True,
            ),
        ),
        testid="chart-studies",
    )


def _file_row(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.text(row["title"], size="2", weight="medium"),
            rx.text(row["when"], " · ", row["size"], size="1", color_scheme="gray"),
            direction="column",
        ),
        rx.flex(
            rx.cond(
                row["has_preview"] != "",
                rx.button(
                    rx.icon("image", size=14),
                    "Preview",
                    size="1",
                    variant="soft",
                    on_click=ChartState.open_file(row["id"], True),
                ),
            ),
            _remove_button("file", row, "title"),
            rx.button(
                rx.icon("external_link", size=14),
                "Open",
                size="1",
                variant="soft",
                on_click=ChartState.open_file(row["id"], False),
                data_testid="file-open",
            ),
            spacing="2",
        ),
        justify="between",
        align="center",
        data_testid="file-row",
    )


def _files() -> rx.Component:
    return _section(
        "Files",
        "paperclip",
        rx.script(src="/chart_upload.js"),
        rx.el.input(
            type="file",
            id="chart-upload-input",
            multiple=True,
            accept=".pdf,.png,.jpg,.jpeg,.webp,.txt,application/pdf,image/*,text/plain",
            data_testid="file-input",
        ),
        rx.box(
            rx.box(
                rx.box(
                    id="upload-bar",
                    height="6px",
                    width="0%",
                    background=rx.color("accent", 9),
                    border_radius="3px",
                    transition="width 0.2s",
                ),
                background=rx.color("gray", 4),
                border_radius="3px",
                width="100%",
            ),
            rx.text(
                "", id="upload-label", size="1", color_scheme="gray", data_testid="upload-label"
            ),
            id="upload-progress",
            display="none",
        ),
        rx.el.button(
            id="upload-refresh",
            on_click=ChartState.refresh,
            style={"display": "none"},
            type="button",
            aria_hidden="true",
        ),
        rx.cond(
            ChartState.files.length() > 0,
            rx.flex(rx.foreach(ChartState.files, _file_row), direction="column", spacing="2"),
            rx.text(
                "No files yet. PDFs and images up to the clinic's limit.",
                size="2",
                color_scheme="gray",
            ),
        ),
        testid="chart-files",
    )


def _timeline_item(item: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.flex(
        rx.center(
            rx.match(
                item["kind"],
                *[(kind, rx.icon(icon, size=14)) for kind, icon in KIND_ICONS.items()],
                rx.icon("file", size=14),
            ),
            width="28px",
            height="28px",
            border_radius="9999px",
            background=rx.color("accent", 3),
            flex_shrink="0",
        ),
        rx.flex(
            rx.text(item["title"], size="2", weight="medium"),
            rx.text(item["when"], " ", item["detail"], size="1", color_scheme="gray"),
            rx.cond(
                item["image"] != "",
                rx.image(
                    src=item["image"],
                    alt=item["title"],
                    max_height="96px",
                    max_width="160px",
                    border_radius="var(--radius-2)",
                    data_testid="timeline-thumbnail",
                ),
            ),
            direction="column",
        ),
        spacing="3",
        align="start",
        data_testid="timeline-item",
    )


def _timeline() -> rx.Component:
    return _section(
        "Timeline",
        "history",
        rx.flex(
            *[
                rx.button(
                    label,
                    size="1",
                    variant=rx.cond(ChartState.timeline_kind == kind, "solid", "soft"),
                    on_click=ChartState.filter_timeline(kind),
                    data_testid=f"timeline-filter-{kind}",
                )
                for kind, label in KIND_LABELS.items()
            ],
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(
            ChartState.timeline.length() > 0,
            rx.flex(
                rx.foreach(ChartState.timeline, _timeline_item), direction="column", spacing="3"
            ),
            rx.text("Nothing yet.", size="2", color_scheme="gray"),
        ),
        testid="chart-timeline",
    )


def chart_page() -> rx.Component:
    return shell(
        "patients",
        rx.cond(
            ChartState.not_found,
            empty_state(
                "user_x",
                "Patient not found",
                "This chart does not exist in your clinic. Find the patient on the Patients page.",
                testid="chart-not-found",
                action=rx.link(rx.button("Go to patients"), href="/patients"),
            ),
            rx.flex(
                rx.link(
                    rx.flex(
                        rx.icon("arrow_left", size=14), "Patients", align="center", spacing="1"
                    ),
                    href="/patients",
                    size="2",
                ),
                _header(),
                _remove_dialog(),
                alert(ChartState.form_error, testid="chart-form-error"),
                rx.grid(
                    rx.flex(
                        _allergies(),
                        _section(
                            "Problems",
                            "clipboard_list",
                            _simple_list(ChartState.problems, "name", "onset", "problem"),
                            _inline_form(
                                ChartState.add_problem,
                                rx.input(name="name", placeholder="Problem", required=True),
                                rx.input(
                                    name="onset", placeholder="Since (e.g. 2019)", width="140px"
                                ),
                                button="Add",
                                testid="problem-add",
                            ),
                            testid="chart-problems",
                        ),
                        _section(
                            "Current medications",
                            "pill",
                            _simple_list(ChartState.medications, "name", "dosage", "medication"),
                            _inline_form(
                                ChartState.add_medication,
                                rx.input(name="name", placeholder="Medication", required=True),
                                rx.input(name="dosage", placeholder="Dose and frequency"),
                                button="Add",
                                testid="medication-add",
                            ),
                            testid="chart-medications",
                        ),
                        _vitals(),
                        _studies(),
                        _files(),
                        direction="column",
                        spacing="4",
                    ),
                    _timeline(),
                    columns=rx.breakpoints(initial="1", md="2"),
                    spacing="4",
                ),
                direction="column",
                spacing="4",
            ),
        ),
        page="chart",
    )
