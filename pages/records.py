"""``/records``: drawing-annotated records. ``?patient=<id>``: the patient's records and a new
one on a body chart, an image or a PDF page; ``?record=<id>``: the canvas beside its form."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.drawing_canvas import drawing_canvas
from pages.components.feedback import alert, empty_state
from pages.components.shell import page_header, shell
from pages.components.step_up import step_up_dialog
from state.records import VITAL_LABELS
from state.records import RecordsState as S


def _field(label: str, control: rx.Component) -> rx.Component:
    return rx.flex(
        rx.text(label, size="1", weight="medium", color_scheme="gray", as_="label"),
        control,
        direction="column",
        spacing="1",
        width="100%",
    )


def _new_record() -> rx.Component:
    return rx.cond(
        S.choices.length() > 0,
        rx.card(
            rx.form(
                rx.flex(
                    rx.heading("New drawing", size="4", as_="h2"),
                    _field(
                        "Draw on",
                        rx.el.select(
                            rx.foreach(
                                S.choices,
                                lambda c: rx.el.option(
                                    c["kind"] + ": " + c["label"], value=c["value"]
                                ),
                            ),
                            name="background",
                            data_testid="record-background",
                            style={"padding": "6px", "border_radius": "6px"},
                        ),
                    ),
                    _field(
                        "PDF page",
                        rx.input(name="page", default_value="1", type="number", min=1, width="6em"),
                    ),
                    _field(
                        "Form",
                        rx.el.select(
                            rx.el.option("No form", value=""),
                            rx.foreach(S.forms, lambda f: rx.el.option(f["name"], value=f["id"])),
                            name="form",
                            data_testid="record-form",
                            style={"padding": "6px", "border_radius": "6px"},
                        ),
                    ),
                    _field(
                        "Title (optional)", rx.input(name="title", placeholder="e.g. Left knee")
                    ),
                    alert(S.form_error, testid="record-error"),
                    rx.button(
                        rx.icon("pen_tool", size=14),
                        "Start drawing",
                        type="submit",
                        data_testid="record-create",
                    ),
                    direction="column",
                    spacing="3",
                    align="start",
                ),
                on_submit=S.create,
            ),
            size="3",
        ),
    )


def _listing() -> rx.Component:
    return rx.flex(
        rx.cond(
            S.patient_id == "",
            empty_state(
                "folder_open",
                "Open a patient first",
                "Records belong to a patient: open one from Patients, then Drawings.",
                testid="records-no-patient",
                action=rx.link(rx.button("Patients", variant="soft"), href="/patients"),
            ),
            rx.flex(
                rx.card(
                    rx.heading("Drawings", size="4", as_="h2"),
                    rx.cond(
                        S.listing.length() > 0,
                        rx.grid(
                            rx.foreach(
                                S.listing,
                                lambda r: rx.link(
                                    rx.card(
                                        rx.cond(
                                            r["thumbnail"] != "",
                                            rx.image(
                                                src=r["thumbnail"],
                                                alt=r["title"],
                                                width="100%",
                                                height="140px",
                                                object_fit="contain",
                                            ),
                                            rx.center(
                                                rx.icon("image", size=32, color="gray"),
                                                height="140px",
                                            ),
                                        ),
                                        rx.text(r["title"], weight="medium", size="2"),
                                        rx.text(
                                            r["number"],
                                            " · ",
                                            r["status"],
                                            " · ",
                                            r["updated"],
                                            size="1",
                                            color_scheme="gray",
                                        ),
                                        size="1",
                                    ),
                                    href="/records?record=" + r["id"],
                                    data_testid="record-card",
                                ),
                            ),
                            columns=rx.breakpoints(initial="2", md="4"),
                            spacing="3",
                            padding_top="var(--space-3)",
                        ),
                        rx.text("No drawings yet.", size="2", color_scheme="gray"),
                    ),
                    size="3",
                ),
                _new_record(),
                direction="column",
                spacing="4",
            ),
        ),
        direction="column",
    )


def _form_field(field: ObjectVar[dict[str, str]]) -> rx.Component:
    key = field["id"].to(str)
    value = S.answers.get(key, "")
    disabled = ~S.editable
    label = rx.text(
        field["label"],
        rx.cond(field["required"] == "1", " *", ""),
        rx.cond(field["unit"] != "", " (" + field["unit"].to(str) + ")", ""),
        size="1",
        weight="medium",
    )
    control = rx.match(
        field["type"],
        (
            "long_text",
            rx.text_area(
                default_value=value,
                on_blur=lambda v: S.set_answer(key, v),
                rows="3",
                disabled=disabled,
            ),
        ),
        (
            "number",
            rx.input(
                default_value=value,
                type="number",
                step="any",
                on_blur=lambda v: S.set_answer(key, v),
                disabled=disabled,
            ),
        ),
        (
            "date",
            rx.input(
                default_value=value,
                type="date",
                on_change=lambda v: S.set_answer(key, v),
                disabled=disabled,
            ),
        ),
        (
            "checkbox",
            rx.checkbox(
                checked=value == "1", on_change=lambda v: S.set_answer(key, v), disabled=disabled
            ),
        ),
        (
            "select",
            rx.el.select(
                rx.el.option("—", value=""),
                rx.foreach(field["options"].to(str).split("|"), lambda o: rx.el.option(o, value=o)),
                value=value,
                on_change=lambda v: S.set_answer(key, v),
                disabled=disabled,
                style={"padding": "6px", "border_radius": "6px"},
            ),
        ),
        (
            "vitals",
            rx.grid(
                *[
                    rx.input(
                        placeholder=label_text,
                        default_value=S.answers.get(key + "." + vital, ""),
                        type="number",
                        step="any",
                        aria_label=label_text,
                        disabled=disabled,
                        on_blur=lambda v, vital=vital: S.set_answer(key + "." + vital, v),
                    )
                    for vital, label_text in VITAL_LABELS.items()
                ],
                columns="2",
                spacing="2",
            ),
        ),
        rx.input(default_value=value, on_blur=lambda v: S.set_answer(key, v), disabled=disabled),
    )
    return rx.flex(label, control, direction="column", spacing="1", data_testid="record-field")


def _conflict() -> rx.Component:
    return rx.cond(
        S.conflict.length() > 0,
        rx.callout.root(
            rx.callout.icon(rx.icon("git_compare", size=16)),
            rx.callout.text(
                "This record was also changed in another tab or device (saved ",
                S.conflict["saved_at"],
                " UTC). Both versions are below; which one do you keep?",
            ),
            rx.grid(
                *[
                    rx.flex(
                        rx.text(label, size="1", weight="medium"),
                        drawing_canvas(
                            value=S.conflict[key],
                            revision=S.revision,
                            background_url=S.record["background_url"].to(str),
                            read_only=True,
                            width=340,
                        ),
                        direction="column",
                        spacing="1",
                        data_testid=f"conflict-preview-{key}",
                    )
                    for key, label in (("mine", "Yours"), ("drawing", "The other version"))
                ],
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="3",
                padding_top="var(--space-2)",
            ),
            rx.flex(
                rx.button("Keep mine", on_click=S.keep_mine, data_testid="conflict-mine"),
                rx.button(
                    "Use theirs",
                    variant="soft",
                    on_click=S.use_theirs,
                    data_testid="conflict-theirs",
                ),
                spacing="2",
                padding_top="var(--space-2)",
            ),
            color_scheme="amber",
            data_testid="record-conflict",
        ),
    )


def _editor() -> rx.Component:
    view = cast("ObjectVar[dict[str, Any]]", S.record)
    return rx.flex(
        rx.card(
            rx.flex(
                rx.heading(view["title"].to(str), size="5", as_="h2"),
                rx.text(
                    view["number"].to(str),
                    " v",
                    view["version_number"].to(str),
                    size="2",
                    color_scheme="gray",
                    data_testid="record-number",
                ),
                rx.badge(view["status"].to(str), variant="soft", data_testid="record-status"),
                rx.link(
                    view["patient_name"].to(str), href="/records?patient=" + S.patient_id, size="2"
                ),
                rx.spacer(),
                rx.text(S.save_status, size="1", color_scheme="gray", data_testid="record-saved"),
                spacing="3",
                align="center",
                wrap="wrap",
            ),
            size="2",
        ),
        _conflict(),
        alert(S.form_error, testid="record-error"),
        alert(S.notice, testid="record-notice", color="green", icon="check"),
        rx.cond(
            S.signed,
            rx.callout.root(
                rx.callout.icon(rx.icon("shield_check", size=16)),
                rx.callout.text(
                    "Signed ",
                    view["signed_at"].to(str),
                    " · SHA-256 ",
                    rx.code(view["content_hash"].to(str), size="1"),
                ),
                color_scheme="green",
                variant="soft",
                data_testid="record-signed",
            ),
        ),
        rx.flex(
            rx.box(
                drawing_canvas(
                    value=S.drawing,
                    revision=S.revision,
                    background_url=view["background_url"].to(str),
                    read_only=~S.editable,
                    width=760,
                    on_change=S.save_drawing,
                ),
                flex="1",
                min_width="0",
            ),
            rx.cond(
                S.fields.length() > 0,
                rx.card(
                    rx.heading(view["form_name"].to(str), size="3", as_="h3"),
                    rx.text(
                        "Form version ", view["form_version"].to(str), size="1", color_scheme="gray"
                    ),
                    rx.flex(
                        rx.foreach(S.fields, _form_field),
                        direction="column",
                        spacing="3",
                        padding_top="var(--space-2)",
                    ),
                    width=rx.breakpoints(initial="100%", md="340px"),
                    flex_shrink="0",
                ),
            ),
            spacing="4",
            direction=rx.breakpoints(initial="column", md="row"),
            align="start",
        ),
        rx.card(
            rx.flex(
                rx.cond(
                    S.editable,
                    rx.button(
                        rx.icon("pen_line", size=14),
                        "Sign record",
                        on_click=S.open_sign,
                        data_testid="record-sign",
                    ),
                ),
                rx.button(
                    rx.icon("file_down", size=14),
                    "Export DOCX",
                    variant="soft",
                    on_click=S.export,
                    data_testid="record-export",
                ),
                rx.button(
                    "Refresh", variant="ghost", on_click=S.refresh, data_testid="record-refresh"
                ),
                rx.cond(
                    view["has_docx"].to(bool),
                    rx.button(
                        "Download DOCX",
                        variant="outline",
                        on_click=S.download("docx"),
                        data_testid="record-download",
                    ),
                ),
                rx.cond(
                    view["has_image"].to(bool),
                    rx.button("Download image", variant="outline", on_click=S.download("png")),
                ),
                rx.cond(
                    S.signed & (view["amended_by_id"].to(str) == ""),
                    rx.button(
                        "Amend", variant="soft", on_click=S.amend, data_testid="record-amend"
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            size="2",
        ),
        step_up_dialog(S, what="record", button="Sign record"),
        direction="column",
        spacing="4",
    )


def records_page() -> rx.Component:
    return shell(
        "records",
        page_header("Records", "Drawings on body charts, photos and PDF pages, with their forms."),
        rx.cond(
            S.missing,
            empty_state(
                "search_x",
                "Record not found",
                "It does not exist in this clinic.",
                testid="record-missing",
            ),
            rx.cond(S.has_record, _editor(), _listing()),
        ),
    )
