"""``/prescriptions``: the queue, one patient's prescriptions, the builder and the signed record."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert, empty_state
from pages.components.shell import page_header, shell
from pages.components.step_up import step_up_dialog
from state.prescriptions import DOSE_UNITS, FREQUENCY_CHOICES, PrescriptionsState

S = PrescriptionsState
STATUS_COLORS = {
    "draft": "gray",
    "signed": "blue",
    "dispensed": "green",
    "completed": "gray",
    "cancelled": "red",
    "superseded": "amber",
}


def _status_badge(status: rx.Var[str], label: rx.Var[str]) -> rx.Component:
    return rx.match(
        status,
        *[
            (name, rx.badge(label, color_scheme=color, variant="soft"))
            for name, color in STATUS_COLORS.items()
        ],
        rx.badge(label),
    )


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.flex(
        rx.text(label, size="1", weight="medium", color_scheme="gray", as_="label"),
        control,
        direction="column",
        spacing="1",
    )


# ---- lists ------------------------------------------------------------------------------------


def _list_row(row: ObjectVar[dict[str, Any]], with_patient: bool) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(row["number"], href="/prescriptions?rx=" + row["id"].to(str)),
            white_space="nowrap",
        ),
        rx.table.cell(rx.text(row["patient"], size="2")) if with_patient else rx.fragment(),
        rx.table.cell(rx.text(row["medicines"], size="2")),
        rx.table.cell(rx.text(row["doctor"], size="2", color_scheme="gray")),
        rx.table.cell(rx.text(row["date"], size="2", white_space="nowrap")),
        rx.table.cell(_status_badge(row["status"].to(str), row["status_label"].to(str))),
        data_testid="rx-row",
    )


def _table(rows: rx.Var, with_patient: bool, empty: rx.Component) -> rx.Component:
    headers = ["Number", *(["Patient"] if with_patient else []), "Medicines", "Prescriber"]
    return rx.cond(
        rows.length() > 0,  # type: ignore[attr-defined]
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[rx.table.column_header_cell(h) for h in [*headers, "Date", "Status"]]
                    )
                ),
                rx.table.body(rx.foreach(rows, lambda r: _list_row(r, with_patient))),
                size="2",
                width="100%",
            ),
            overflow_x="auto",
        ),
        empty,
    )


def _queue_view() -> rx.Component:
    filters = [
        ("", "Default"),
        ("draft", "Drafts"),
        ("signed", "Signed"),
        ("dispensed", "Dispensed"),
    ]
    return rx.flex(
        rx.card(
            rx.flex(
                rx.flex(
                    *[
                        rx.button(
                            label,
                            size="1",
                            variant=rx.cond(S.queue_status == value, "solid", "soft"),
                            on_click=S.filter_queue(value),
                        )
                        for value, label in filters
                    ],
                    spacing="2",
                    wrap="wrap",
                ),
                _table(
                    S.queue,
                    True,
                    empty_state(
                        "pill",
                        "No prescriptions here",
                        rx.cond(
                            S.user_role == "pharmacist",
                            "Signed prescriptions waiting to be dispensed appear here.",
                            "Open a patient's chart and choose Prescriptions to write one.",
                        ),
                        testid="rx-queue-empty",
                    ),
                ),
                direction="column",
                spacing="3",
            ),
            size="3",
            data_testid="rx-queue",
        ),
        rx.cond(S.can_manage_catalog, _catalog_card()),
        direction="column",
        spacing="4",
    )


def _catalog_card() -> rx.Component:
    text_inputs = [
        ("generic_name", "Generic name", True),
        ("strength", "Strength (e.g. 500 mg)", False),
        ("form", "Form (tablet, syrup…)", True),
        ("route", "Route (oral, topical…)", True),
        ("brand_names", "Brands (a|b)", False),
        ("ingredients", "Ingredients (a|b)", False),
        ("drug_classes", "Classes (specific|broad)", False),
        ("max_daily_dose", "Max per day", False),
        ("max_daily_unit", "Unit of max", False),
    ]
    return rx.card(
        rx.flex(
            rx.heading("Medication catalog", size="4", as_="h2"),
            rx.text(
                "The shared starter catalog is available to everyone; add your clinic's own "
                "products here, one by one or as a CSV with the same columns.",
                size="2",
                color_scheme="gray",
            ),
            alert(S.catalog_error, testid="catalog-error"),
            alert(S.catalog_message, testid="catalog-message", color="green", icon="check"),
            rx.form(
                rx.flex(
                    *[
                        rx.input(name=name, placeholder=label, required=required, size="2")
                        for name, label, required in text_inputs
                    ],
                    rx.button("Add to catalog", type="submit", data_testid="catalog-add"),
                    wrap="wrap",
                    spacing="2",
                ),
                on_submit=S.add_catalog_item,
                reset_on_submit=False,
            ),
            rx.form(
                rx.flex(
                    rx.text_area(
                        name="csv",
                        placeholder="generic_name,brand_names,strength,form,route,ingredients,"
                        "drug_classes,rxcui,max_daily_dose,max_daily_unit",
                        rows="4",
                        width="100%",
                    ),
                    rx.button("Import CSV", type="submit", variant="soft"),
                    direction="column",
                    spacing="2",
                    align="start",
                ),
                on_submit=S.import_catalog,
                reset_on_submit=False,
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
        data_testid="catalog-card",
    )


def _patient_view() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.heading(S.patient_label, size="4", as_="h2"),
                rx.cond(
                    S.can_prescribe,
                    rx.button(
                        rx.icon("plus", size=14),
                        "New prescription",
                        on_click=S.new_prescription,
                        data_testid="rx-new",
                    ),
                ),
                justify="between",
                align="center",
                wrap="wrap",
                gap="2",
            ),
            _table(
                S.patient_list,
                False,
                empty_state(
                    "pill", "No prescriptions yet", "Prescriptions for this patient appear here."
                ),
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def _glass_view() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading(S.patient_label, size="4", as_="h2"),
            rx.cond(
                S.can_prescribe,
                rx.flex(
                    rx.text(
                        "Seeing this patient now? Start a prescription: it opens a visit with "
                        "you, and their earlier prescriptions become visible to you.",
                        size="2",
                    ),
                    rx.button(
                        rx.icon("plus", size=14),
                        "New prescription",
                        on_click=S.new_prescription,
                        data_testid="rx-new",
                    ),
                    direction="column",
                    spacing="2",
                    align="start",
                ),
            ),
            _glass_form(),
            direction="column",
            spacing="4",
        ),
        size="3",
        data_testid="glass-card",
    )


def _glass_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.callout.root(
                rx.callout.icon(rx.icon("shield_alert", size=16)),
                rx.callout.text(
                    "You have no visit with this patient. To open their earlier prescriptions "
                    "in an emergency, say why: your reason is recorded and shown to the clinic "
                    "admins. Access lasts a few hours."
                ),
                color_scheme="amber",
                variant="soft",
            ),
            _field(
                "Reason",
                rx.text_area(
                    name="reason", required=True, min_length=10, data_testid="glass-reason"
                ),
            ),
            rx.button("Open with break-glass", type="submit", color_scheme="amber"),
            direction="column",
            spacing="3",
        ),
        on_submit=S.break_glass,
        reset_on_submit=False,
    )


# ---- one prescription -------------------------------------------------------------------------


def _header(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.flex(
                    rx.heading(view["number"].to(str), size="6", as_="h2", data_testid="rx-number"),
                    _status_badge(view["status"].to(str), view["status_label"].to(str)),
                    spacing="3",
                    align="center",
                ),
                rx.text(
                    view["patient_name"].to(str),
                    " · ",
                    view["patient_mrn"].to(str),
                    " · born ",
                    view["patient_birth_date"].to(str),
                    size="2",
                ),
                rx.text(
                    "Prescriber: ",
                    view["doctor"].to(str),
                    rx.cond(
                        view["doctor_registration"].to(str) != "",
                        rx.text.span(" · Reg. no. ", view["doctor_registration"].to(str)),
                    ),
                    size="2",
                    color_scheme="gray",
                ),
                rx.link(
                    "Open chart",
                    href="/chart?patient=" + view["patient_id"].to(str),
                    size="2",
                ),
                direction="column",
                spacing="1",
            ),
            rx.flex(
                rx.cond(
                    S.allergies.length() > 0,
                    rx.foreach(
                        S.allergies,
                        lambda a: rx.badge(
                            rx.icon("triangle_alert", size=12),
                            a["substance"],
                            color_scheme="red",
                            size="2",
                        ),
                    ),
                    rx.badge("No known allergies", color_scheme="green", variant="soft"),
                ),
                wrap="wrap",
                spacing="2",
                data_testid="rx-allergies",
            ),
            justify="between",
            wrap="wrap",
            gap="3",
        ),
        size="3",
    )


def _item_row(item: ObjectVar[dict[str, Any]], index: rx.Var[int]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.flex(
                rx.text(item["name"], weight="medium", size="2"),
                rx.text(item["plain"], size="1", color_scheme="gray"),
                rx.cond(
                    item["plain_local"].to(str) != "",
                    rx.text(item["plain_local"], size="1", color_scheme="gray"),
                ),
                rx.cond(
                    item["instructions"].to(str) != "",
                    rx.text(item["instructions"], size="1", style={"font_style": "italic"}),
                ),
                direction="column",
            )
        ),
        rx.table.cell(rx.text(item["dose"], size="2", white_space="nowrap")),
        rx.table.cell(rx.code(item["frequency"], size="1")),
        rx.table.cell(rx.text(item["duration"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["quantity"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["refills"], size="2")),
        rx.table.cell(
            rx.cond(
                S.flags["can_edit"],
                rx.icon_button(
                    rx.icon("trash_2", size=14),
                    size="1",
                    variant="ghost",
                    color_scheme="red",
                    on_click=S.remove_item(index),
                    aria_label="Remove this medicine",
                ),
            )
        ),
        data_testid="rx-item",
    )


def _items() -> rx.Component:
    return rx.cond(
        S.items.length() > 0,
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in (
                                "Medicine",
                                "Dose",
                                "Frequency",
                                "Duration",
                                "Quantity",
                                "Refills",
                                "",
                            )
                        ]  # fmt: skip
                    )
                ),
                rx.table.body(rx.foreach(S.items, _item_row)),
                size="2",
                width="100%",
            ),
            overflow_x="auto",
        ),
        rx.text("No medicines yet. Search the catalog below to add one.", size="2"),
    )


def _medicine_picker() -> rx.Component:
    return rx.box(
        rx.cond(
            S.med_id != "",
            rx.flex(
                rx.badge(rx.icon("pill", size=12), S.med_label, size="2", data_testid="rx-picked"),
                rx.button("Change", size="1", variant="ghost", on_click=S.pick_medication("", "")),
                align="center",
                spacing="2",
            ),
            rx.flex(
                rx.input(
                    placeholder="Search medicine (name, brand, strength)…",
                    value=S.med_query,
                    on_change=S.search_medications.debounce(200),
                    aria_label="Search the medication catalog",
                    data_testid="rx-med-search",
                    width="100%",
                ),
                rx.cond(
                    S.med_results.length() > 0,
                    rx.flex(
                        rx.foreach(
                            S.med_results,
                            lambda m: rx.button(
                                rx.text(m["label"], weight="medium"),
                                rx.text(m["brands"], size="1", color_scheme="gray"),
                                variant="ghost",
                                justify="start",
                                width="100%",
                                on_click=S.pick_medication(m["id"], m["label"]),
                                data_testid="rx-med-option",
                            ),
                        ),
                        direction="column",
                        border=f"1px solid {rx.color('gray', 5)}",
                        border_radius="var(--radius-3)",
                        padding="var(--space-1)",
                        max_height="260px",
                        overflow_y="auto",
                        role="listbox",
                    ),
                ),
                direction="column",
                spacing="1",
            ),
        ),
        width="100%",
    )


def _builder() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.heading("Add a medicine", size="3", as_="h3"),
            _medicine_picker(),
            rx.form(
                rx.flex(
                    rx.flex(
                        _field(
                            "Dose",
                            rx.input(
                                name="dose",
                                required=True,
                                width="90px",
                                input_mode="decimal",
                                data_testid="rx-dose",
                            ),
                        ),
                        _field(
                            "Unit",
                            rx.select(list(DOSE_UNITS), name="dose_unit", default_value="tablet"),
                        ),
                        _field(
                            "Frequency",
                            rx.select.root(
                                rx.select.trigger(data_testid="rx-frequency"),
                                rx.select.content(
                                    *[
                                        rx.select.item(label, value=code)
                                        for code, label in FREQUENCY_CHOICES
                                    ]
                                ),
                                value=S.frequency,
                                on_change=S.set_frequency,
                            ),
                        ),
                        rx.cond(
                            S.frequency_is_prn,
                            _field(
                                "Max doses a day",
                                rx.input(name="max_per_day", width="90px", input_mode="numeric"),
                            ),
                        ),
                        _field(
                            "Days",
                            rx.input(
                                name="duration_days",
                                width="80px",
                                input_mode="numeric",
                                data_testid="rx-days",
                            ),
                        ),
                        _field(
                            "Quantity (auto)",
                            rx.input(name="quantity", width="110px", placeholder="auto"),
                        ),
                        _field(
                            "Refills", rx.input(name="refills", width="70px", default_value="0")
                        ),
                        wrap="wrap",
                        spacing="3",
                        align="end",
                    ),  # fmt: skip
                    _field(
                        "Instructions to the patient (optional)",
                        rx.input(name="instructions", placeholder="e.g. take with food"),
                    ),
                    alert(S.item_error, testid="rx-item-error"),
                    rx.button(
                        rx.icon("plus", size=14), "Add", type="submit", data_testid="rx-add-item"
                    ),
                    direction="column",
                    spacing="3",
                    align="start",
                ),
                on_submit=S.add_item,
                reset_on_submit=False,
                id="rx-item-form",
            ),
            direction="column",
            spacing="3",
        ),
        size="2",
        variant="surface",
    )


def _notes(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.form(
        rx.flex(
            _field(
                "Diagnosis (the patient's problems are suggested)",
                rx.input(
                    name="diagnosis",
                    default_value=view["diagnosis"].to(str),
                    list="rx-problems",
                    data_testid="rx-diagnosis",
                ),
            ),
            rx.el.datalist(
                rx.foreach(S.problems, lambda name: rx.el.option(value=name)), id="rx-problems"
            ),
            _field(
                "Notes to the pharmacist",
                rx.text_area(
                    name="pharmacist_notes", default_value=view["pharmacist_notes"].to(str)
                ),
            ),
            rx.button("Save draft", type="submit", variant="soft", data_testid="rx-save-notes"),
            direction="column",
            spacing="2",
            align="stretch",
        ),
        on_submit=S.save_notes,
        reset_on_submit=False,
        key=view["number"].to(str) + view["diagnosis"].to(str),
    )


def _warnings() -> rx.Component:
    return rx.cond(
        S.warnings.length() > 0,
        rx.card(
            rx.flex(
                rx.flex(
                    rx.icon("triangle_alert", color=rx.color("red", 10)),
                    rx.heading("Safety warnings", size="3", as_="h3", color_scheme="red"),
                    spacing="2",
                    align="center",
                ),
                rx.text(
                    "Check each warning. To sign anyway, give your reason; it is kept with "
                    "the prescription and in the audit log.",
                    size="2",
                ),
                rx.foreach(
                    S.warnings,
                    lambda w: rx.flex(
                        rx.text(w["message"], size="2", weight="medium"),
                        rx.input(
                            placeholder="Reason to prescribe anyway",
                            value=S.acknowledgements[w["key"].to(str)],
                            on_change=lambda v: S.set_acknowledgement(w["key"], v),
                            aria_label="Reason to prescribe despite: " + w["message"].to(str),
                            data_testid="rx-ack",
                        ),
                        direction="column",
                        spacing="1",
                        padding="var(--space-2)",
                        background=rx.color("red", 2),
                        border_radius="var(--radius-2)",
                        data_testid="rx-warning",
                    ),
                ),
                direction="column",
                spacing="3",
            ),
            size="2",
            style={"border": f"1px solid {rx.color('red', 6)}"},
        ),
        rx.cond(
            S.items.length() > 0,
            rx.callout.root(
                rx.callout.icon(rx.icon("shield_check", size=16)),
                rx.callout.text("No allergy, duplicate or dose warnings."),
                color_scheme="green",
                variant="soft",
                size="1",
                data_testid="rx-no-warnings",
            ),
        ),
    )


def _after_signing(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.cond(
                S.documents_pending,
                rx.flex(
                    rx.spinner(size="2"),
                    rx.text("Preparing the printable copy…", size="2"),
                    spacing="2",
                    align="center",
                    data_testid="rx-docs-pending",
                ),
                rx.flex(
                    rx.button(
                        rx.icon("printer", size=14),
                        "PDF",
                        on_click=S.open_document("pdf"),
                        data_testid="rx-pdf",
                    ),
                    rx.button(
                        rx.icon("file_text", size=14),
                        "DOCX",
                        variant="soft",
                        on_click=S.open_document("docx"),
                    ),
                    spacing="2",
                ),
            ),
            rx.text(
                "Signed ",
                view["signed_at"].to(str),
                " · fingerprint ",
                rx.code(view["content_hash"].to(str)[:12]),
                size="2",
                color_scheme="gray",
            ),
            rx.link(
                rx.flex(
                    rx.icon("qr_code", size=14),
                    "Verification page (what the QR code opens)",
                    spacing="1",
                    align="center",
                ),
                href=view["verify_path"].to(str),
                is_external=True,
                size="2",
                data_testid="rx-verify-link",
            ),
            rx.cond(
                S.acknowledged.length() > 0,
                rx.flex(
                    rx.text("Warnings acknowledged at signing", size="2", weight="medium"),
                    rx.foreach(
                        S.acknowledged,
                        lambda a: rx.text(
                            a["message"], " — reason: ", a["reason"], size="1", color_scheme="gray"
                        ),
                    ),
                    direction="column",
                    spacing="1",
                    data_testid="rx-acknowledged",
                ),
            ),
            rx.cond(
                view["cancel_reason"].to(str) != "",
                rx.text("Cancelled: ", view["cancel_reason"].to(str), size="2", color_scheme="red"),
            ),
            rx.cond(
                view["superseded_by_id"].to(str) != "",
                rx.link(
                    "Replaced by a newer prescription",
                    href="/prescriptions?rx=" + view["superseded_by_id"].to(str),
                ),
            ),
            rx.flex(
                rx.cond(
                    S.flags["can_dispense"],
                    rx.button(
                        rx.icon("package_check", size=14),
                        "Mark dispensed",
                        color_scheme="green",
                        on_click=S.dispense,
                        data_testid="rx-dispense",
                    ),
                ),
                rx.cond(
                    S.flags["can_complete"],
                    rx.button("Course completed", variant="soft", on_click=S.complete),
                ),
                rx.cond(
                    S.flags["can_change"],
                    rx.button(
                        rx.icon("copy", size=14),
                        "Change (new version)",
                        variant="soft",
                        on_click=S.change,
                        data_testid="rx-change",
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(S.flags["can_cancel"], _cancel_form()),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def _cancel_form() -> rx.Component:
    return rx.form(
        rx.flex(
            rx.input(name="reason", placeholder="Reason for cancelling", required=True),
            rx.button("Cancel prescription", type="submit", color_scheme="red", variant="soft"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=S.cancel,
        reset_on_submit=False,
    )


def _rx_view() -> rx.Component:
    view = cast("ObjectVar[dict[str, Any]]", S.view)
    return rx.flex(
        _header(view),
        rx.card(
            rx.flex(
                rx.heading("Medicines", size="4", as_="h2"),
                _items(),
                rx.cond(
                    S.flags["can_edit"],
                    rx.flex(
                        _builder(),
                        _notes(view),
                        _warnings(),
                        rx.flex(
                            rx.button(
                                rx.icon("pen_line", size=14),
                                "Sign…",
                                size="3",
                                on_click=S.open_sign,
                                disabled=S.items.length() == 0,
                                data_testid="rx-sign",
                            ),
                            rx.cond(
                                view["supersedes_id"].to(str) != "",
                                rx.text(
                                    "Signing replaces the earlier prescription.",
                                    size="2",
                                    color_scheme="gray",
                                ),
                            ),
                            rx.button(
                                "Discard draft",
                                variant="ghost",
                                color_scheme="red",
                                on_click=S.discard,
                            ),
                            spacing="3",
                            align="center",
                            wrap="wrap",
                        ),
                        direction="column",
                        spacing="4",
                    ),
                    rx.flex(
                        rx.cond(
                            view["diagnosis"].to(str) != "",
                            rx.text("Diagnosis: ", view["diagnosis"].to(str), size="2"),
                        ),
                        rx.cond(
                            view["pharmacist_notes"].to(str) != "",
                            rx.text(
                                "To the pharmacist: ", view["pharmacist_notes"].to(str), size="2"
                            ),
                        ),  # fmt: skip
                        direction="column",
                        spacing="1",
                    ),
                ),
                direction="column",
                spacing="3",
            ),
            size="3",
        ),
        rx.cond(view["status"].to(str) != "draft", _after_signing(view)),
        step_up_dialog(S, what="prescription", button="Sign prescription"),
        direction="column",
        spacing="4",
    )


def prescriptions_page() -> rx.Component:
    return shell(
        "prescriptions",
        page_header(
            "Prescriptions",
            rx.cond(
                S.user_role == "pharmacist",
                "Check and dispense signed prescriptions.",
                "Write, sign and print prescriptions with safety checks.",
            ),
            rx.cond(
                S.mode != "queue",
                rx.link(rx.button("All prescriptions", variant="soft"), href="/prescriptions"),
            ),
        ),
        alert(S.page_error, testid="rx-error"),
        alert(S.page_notice, testid="rx-notice", color="green", icon="check"),
        rx.match(
            S.mode,
            ("rx", _rx_view()),
            ("patient", _patient_view()),
            ("glass", _glass_view()),
            (
                "missing",
                empty_state(
                    "search_x",
                    "Not found",
                    "This prescription or patient does not exist in your clinic.",
                    testid="rx-missing",
                ),
            ),
            _queue_view(),
        ),
    )
