"""``/templates``: report templates — the built-ins, the clinic's and the doctor's own; an
editor to add, reorder, nest and rename sections with a live preview."""

from __future__ import annotations

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert
from pages.components.shell import page_header, shell
from state.templates import SECTION_TYPES
from state.templates import TemplatesState as S


def _list() -> rx.Component:
    return rx.card(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Template", "Type", "Version", "Owner", "Sections", "Used")
                    ]
                )
            ),  # fmt: skip
            rx.table.body(
                rx.foreach(
                    S.templates,
                    lambda t: rx.table.row(
                        rx.table.cell(
                            rx.button(
                                t["name"],
                                variant="ghost",
                                on_click=S.open_template(t["id"]),
                                data_testid="template-open",
                            ),
                            rx.cond(t["default"] != "", rx.badge("default", ml="2", size="1")),
                        ),
                        rx.table.cell(t["type"]),
                        rx.table.cell("v", t["version"]),
                        rx.table.cell(t["owner"]),
                        rx.table.cell(t["sections"]),
                        rx.table.cell(t["uses"]),
                        data_testid="template-row",
                    ),
                )
            ),
            width="100%",
        ),
        size="3",
    )


def _row(row: ObjectVar[dict[str, str]], index: rx.Var[int]) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.cond(row["depth"] == "1", rx.text("↳", color_scheme="gray")),
            rx.input(
                value=row["title"],
                on_change=lambda v: S.set_row(index, "title", v),
                aria_label="Section title",
                width="100%",
                data_testid="section-title",
                disabled=~S.can_edit,
            ),  # fmt: skip
            rx.el.select(
                *[rx.el.option(t, value=t) for t in SECTION_TYPES],
                value=row["type"],
                on_change=lambda v: S.set_row(index, "type", v),
                aria_label="Section type",
                disabled=~S.can_edit,
                style={"padding": "4px", "border_radius": "6px"},
            ),  # fmt: skip
            rx.checkbox(
                "required",
                checked=row["required"] == "1",
                on_change=lambda v: S.set_row(index, "required", v),
                disabled=~S.can_edit,
            ),  # fmt: skip
            rx.cond(
                S.can_edit,
                rx.flex(
                    rx.icon_button(
                        rx.icon("arrow_up", size=12),
                        size="1",
                        variant="ghost",
                        on_click=S.move_row(index, -1),
                        aria_label="Move up",
                    ),
                    rx.icon_button(
                        rx.icon("arrow_down", size=12),
                        size="1",
                        variant="ghost",
                        on_click=S.move_row(index, 1),
                        aria_label="Move down",
                        data_testid="section-down",
                    ),
                    rx.icon_button(
                        rx.icon("corner_down_right", size=12),
                        size="1",
                        variant="ghost",
                        on_click=S.indent_row(index),
                        aria_label="Make it a subsection (or a section again)",
                    ),
                    rx.icon_button(
                        rx.icon("trash_2", size=12),
                        size="1",
                        variant="ghost",
                        color_scheme="red",
                        on_click=S.remove_row(index),
                        aria_label="Remove section",
                    ),
                    spacing="1",
                ),
            ),  # fmt: skip
            spacing="2",
            align="center",
            width="100%",
        ),
        rx.input(
            value=row["prompt"],
            on_change=lambda v: S.set_row(index, "prompt", v),
            placeholder="What belongs here (guides the drafter)",
            size="1",
            disabled=~S.can_edit,
        ),  # fmt: skip
        direction="column",
        spacing="1",
        padding_left=rx.cond(row["depth"] == "1", "var(--space-5)", "0"),
        data_testid="section-row",
    )


def _preview() -> rx.Component:
    return rx.card(
        rx.heading("Preview", size="3", as_="h2"),
        rx.heading(S.name, size="4", margin_top="var(--space-2)", data_testid="preview-name"),
        rx.foreach(
            S.rows,
            lambda row: rx.flex(
                rx.text(
                    row["title"],
                    weight="bold",
                    size=rx.cond(row["depth"] == "1", "2", "3"),
                ),  # fmt: skip
                rx.cond(row["required"] == "1", rx.badge("required", size="1", variant="outline")),
                rx.text(
                    rx.match(
                        row["type"], ("list", "• list"), ("structured", "label: value"), "paragraph"
                    ),
                    size="1",
                    color_scheme="gray",
                ),  # fmt: skip
                spacing="2",
                align="center",
                padding_left=rx.cond(row["depth"] == "1", "var(--space-4)", "0"),
                padding_top="var(--space-2)",
                data_testid="preview-section",
            ),
        ),
        size="2",
        min_width="280px",
    )


def _editor() -> rx.Component:
    return rx.flex(
        rx.card(
            rx.flex(
                rx.flex(
                    rx.button(
                        rx.icon("arrow_left", size=14),
                        "All templates",
                        variant="ghost",
                        on_click=S.close,
                    ),  # fmt: skip
                    rx.spacer(),
                    rx.cond(
                        S.template_id != "",
                        rx.flex(
                            rx.button(
                                "Copy as mine",
                                variant="soft",
                                on_click=S.copy,
                                data_testid="template-copy",
                            ),  # fmt: skip
                            rx.cond(
                                S.can_edit,
                                rx.flex(
                                    rx.button(
                                        "Make default", variant="soft", on_click=S.make_default
                                    ),
                                    rx.button(
                                        "Retire",
                                        variant="soft",
                                        color_scheme="red",
                                        on_click=S.retire,
                                    ),  # fmt: skip
                                    spacing="2",
                                ),
                            ),
                            spacing="2",
                        ),
                    ),
                    width="100%",
                    align="center",
                ),
                rx.cond(
                    ~S.can_edit,
                    rx.callout.root(
                        rx.callout.text(
                            "This template is not yours to change: copy it to make "
                            "your own version."
                        ),
                        color_scheme="gray",
                        variant="soft",
                        size="1",
                    ),  # fmt: skip
                ),
                rx.input(
                    value=S.name,
                    on_change=lambda v: S.set_field("name", v),
                    placeholder="Template name",
                    disabled=~S.can_edit,
                    data_testid="template-name",
                ),  # fmt: skip
                rx.flex(
                    rx.el.select(
                        rx.foreach(S.report_types, lambda t: rx.el.option(t, value=t)),
                        value=S.report_type,
                        on_change=lambda v: S.set_field("report_type", v),
                        aria_label="Report type",
                        disabled=~S.can_edit,
                        style={"padding": "6px", "border_radius": "6px"},
                    ),
                    rx.checkbox(
                        "Shared with the clinic's doctors",
                        checked=S.is_public,
                        on_change=S.set_public,
                        disabled=~S.can_edit,
                    ),
                    spacing="3",
                    align="center",
                ),  # fmt: skip
                rx.text_area(
                    value=S.prompt,
                    on_change=lambda v: S.set_field("prompt", v),
                    placeholder="Instructions for the drafter (style, what to stress)",
                    rows="2",
                    disabled=~S.can_edit,
                ),  # fmt: skip
                rx.heading("Sections", size="3", as_="h2"),
                rx.foreach(S.rows, _row),
                rx.cond(
                    S.can_edit,
                    rx.flex(
                        rx.button(
                            rx.icon("plus", size=14),
                            "Section",
                            variant="soft",
                            on_click=S.add_row(0),
                            data_testid="section-add-row",
                        ),
                        rx.button(
                            rx.icon("plus", size=14),
                            "Subsection",
                            variant="soft",
                            on_click=S.add_row(1),
                        ),
                        rx.spacer(),
                        rx.button(
                            rx.icon("save", size=14),
                            "Save",
                            on_click=S.save,
                            data_testid="template-save",
                        ),
                        spacing="2",
                        width="100%",
                    ),
                ),  # fmt: skip
                alert(S.form_error, testid="template-error"),
                alert(S.notice, testid="template-notice", color="green", icon="check"),
                direction="column",
                spacing="3",
            ),
            size="3",
            width="100%",
        ),
        _preview(),
        spacing="4",
        direction=rx.breakpoints(initial="column", md="row"),
        align="start",
    )


def templates_page() -> rx.Component:
    return shell(
        "templates",
        page_header(
            "Report templates",
            "The sections a drafted report has. Editing a template already used saves a new "
            "version; reports keep the version they were written with.",
            rx.cond(
                ~S.editing,
                rx.button(
                    rx.icon("plus", size=14),
                    "New template",
                    on_click=S.new_template,
                    data_testid="template-new",
                ),
            ),
        ),  # fmt: skip
        rx.cond(S.editing, _editor(), _list()),
    )
