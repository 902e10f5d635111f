"""``/reports``: the doctor's reports; ``/reports?report=<id>``: review a draft beside its
transcript, fix what is wrong, sign with step-up, export and share."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert, empty_state
from pages.components.shell import page_header, shell
from pages.components.step_up import step_up_dialog
from state.reports import ReportsState as S


def _listing() -> rx.Component:
    return rx.card(
        rx.cond(
            S.listing.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Report", "Patient", "Status", "Updated")
                        ]
                    )
                ),
                rx.table.body(
                    rx.foreach(
                        S.listing,
                        lambda row: rx.table.row(
                            rx.table.cell(
                                rx.link(row["number"], href="/reports?report=" + row["id"])
                            ),
                            rx.table.cell(row["patient"]),
                            rx.table.cell(rx.badge(row["status_label"], variant="soft")),
                            rx.table.cell(row["updated"]),
                            data_testid="report-row",
                        ),
                    )
                ),
                width="100%",
            ),
            empty_state(
                "file_text",
                "No reports yet",
                "Finish a recorded consultation on the Scribe page, then choose Draft report.",
                testid="reports-empty",
            ),
        ),
        size="3",
    )


def _banner(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.cond(
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
            data_testid="report-signed",
        ),
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle_alert", size=16)),
            rx.callout.text(
                rx.text.strong("AI draft — review before signing. "),
                "Every sentence shows the conversation it rests on; sentences marked "
                "unsupported must be edited, deleted or accepted before you can sign.",
            ),
            color_scheme="amber",
            variant="surface",
            data_testid="report-draft-banner",
        ),
    )


def _sentence_actions(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.cond(
        S.editable,
        rx.flex(
            rx.icon_button(
                rx.icon("pencil", size=12),
                size="1",
                variant="ghost",
                on_click=S.start_edit(row["id"]),
                aria_label="Edit sentence",
                data_testid="sentence-edit",
            ),
            rx.cond(
                row["status"] == "unsupported",
                rx.button(
                    "Accept",
                    size="1",
                    variant="soft",
                    color_scheme="amber",
                    on_click=S.start_accept(row["id"]),
                    data_testid="sentence-accept",
                ),
            ),
            rx.icon_button(
                rx.icon("trash_2", size=12),
                size="1",
                variant="ghost",
                color_scheme="red",
                on_click=S.delete_sentence(row["id"]),
                aria_label="Delete sentence",
                data_testid="sentence-delete",
            ),
            spacing="2",
            align="center",
        ),
    )


def _cancel_button() -> rx.Component:
    return rx.button(
        "Cancel", type="button", size="1", variant="soft", color_scheme="gray", on_click=S.cancel
    )


def _inline_form(
    control: rx.Component, submit: str, on_submit: Any, *, testid: str
) -> rx.Component:
    """One field with its submit and Cancel buttons (edit, accept and add a sentence)."""
    return rx.form(
        rx.flex(
            control,
            rx.button(submit, type="submit", size="1", data_testid=testid),
            _cancel_button(),
            spacing="2",
            width="100%",
        ),
        on_submit=on_submit,
    )


def _sentence(row: ObjectVar[dict[str, str]]) -> rx.Component:
    selected = S.selected == row["id"]
    return rx.cond(
        S.editing == row["id"],
        _inline_form(
            rx.input(
                name="text",
                default_value=row["text"],
                auto_focus=True,
                width="100%",
                data_testid="sentence-text",
            ),
            "Save",
            S.save_sentence,
            testid="sentence-save",
        ),
        rx.flex(
            rx.flex(
                rx.text(
                    row["bullet"],
                    " ",
                    row["text"],
                    size="2",
                    cursor="pointer",
                    on_click=S.select(row["id"]),
                    data_testid="sentence",
                    custom_attrs={"data-status": row["status"]},
                ),
                rx.spacer(),
                rx.badge(row["status_label"], color_scheme=row["color"], variant="soft", size="1"),
                _sentence_actions(row),
                spacing="2",
                align="center",
                width="100%",
            ),
            rx.cond(
                row["reasons"] != "",
                rx.text(
                    row["reasons"], size="1", color_scheme="red", data_testid="sentence-reasons"
                ),
            ),
            rx.cond(
                row["note"] != "",
                rx.text("Your note: ", row["note"], size="1", color_scheme="gray"),
            ),
            rx.cond(
                S.accepting == row["id"],
                _inline_form(
                    rx.input(
                        name="note",
                        placeholder="Why is it right as it is?",
                        width="100%",
                        auto_focus=True,
                        data_testid="accept-note",
                    ),
                    "Accept",
                    S.accept_sentence,
                    testid="accept-save",
                ),
            ),
            direction="column",
            spacing="1",
            padding="var(--space-2)",
            border_radius="var(--radius-2)",
            background=rx.cond(
                selected,
                rx.color("blue", 3),
                rx.cond(row["status"] == "unsupported", rx.color("red", 2), "transparent"),
            ),
            border=rx.cond(
                row["status"] == "unsupported",
                f"1px solid {rx.color('red', 6)}",
                "1px solid transparent",
            ),
        ),
    )


def _section_head(row: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.heading(row["title"], size="3", as_="h3"),
            rx.cond(row["required"] != "", rx.badge("required", variant="outline", size="1")),
            rx.spacer(),
            rx.cond(
                S.editable,
                rx.flex(
                    rx.button(
                        "Add",
                        size="1",
                        variant="ghost",
                        on_click=S.start_add(row["section"]),
                        data_testid="section-add",
                    ),
                    rx.button(
                        "Rewrite",
                        size="1",
                        variant="ghost",
                        on_click=S.start_edit("section:" + row["section"].to(str)),
                        data_testid="section-rewrite",
                    ),
                    rx.button(
                        "Regenerate",
                        size="1",
                        variant="ghost",
                        on_click=S.regenerate(row["section"]),
                        data_testid="section-regenerate",
                    ),
                    spacing="2",
                ),
            ),
            align="center",
            spacing="2",
            width="100%",
        ),
        rx.cond(
            (row["empty"] != "") & (row["required"] != ""),
            rx.text(
                "Missing — nothing in the conversation supports this required section. "
                "Write it yourself or say it was not discussed.",
                size="1",
                color_scheme="red",
                data_testid="section-missing",
            ),
            rx.cond(
                row["empty"] != "", rx.text("Nothing recorded.", size="1", color_scheme="gray")
            ),
        ),
        rx.cond(
            S.editing == "section:" + row["section"].to(str),
            rx.form(
                rx.flex(
                    rx.text_area(
                        name="text",
                        default_value=row["lines"],
                        rows="6",
                        width="100%",
                        data_testid="section-text",
                    ),
                    rx.text(
                        "One sentence per line; start a line with “- ” for a list item.",
                        size="1",
                        color_scheme="gray",
                    ),
                    rx.flex(
                        rx.button("Save section", type="submit", size="1"),
                        _cancel_button(),
                        spacing="2",
                    ),
                    direction="column",
                    spacing="2",
                ),
                on_submit=S.rewrite_section,
            ),
        ),
        rx.cond(
            S.adding == row["section"],
            _inline_form(
                rx.input(
                    name="text",
                    placeholder="Your sentence",
                    width="100%",
                    auto_focus=True,
                    data_testid="add-text",
                ),
                "Add",
                S.add_sentence,
                testid="add-save",
            ),
        ),
        direction="column",
        spacing="1",
        padding_top="var(--space-3)",
        data_testid="report-section",
    )


def _draft_column(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.heading(rx.cond(S.signed, "Report", "Draft"), size="4", as_="h2"),
                rx.spacer(),
                rx.text(
                    "Completeness ",
                    view["completeness_pct"].to(str),
                    " · support ",
                    view["support_pct"].to(str),
                    size="1",
                    color_scheme="gray",
                    data_testid="report-scores",
                ),
                align="center",
                width="100%",
            ),
            rx.cond(
                S.drafting,
                rx.flex(
                    rx.spinner(size="2"),
                    rx.text(view["progress_line"].to(str), size="2"),
                    spacing="2",
                    align="center",
                    data_testid="report-drafting",
                ),
            ),
            rx.cond(
                view["status"].to(str) == "failed",
                alert(view["error"].to(str), testid="report-failed"),
            ),
            rx.foreach(
                S.rows,
                lambda row: rx.cond(row["kind"] == "section", _section_head(row), _sentence(row)),
            ),
            direction="column",
            spacing="1",
        ),
        size="3",
        width="100%",
    )


def _transcript_column() -> rx.Component:
    return rx.card(
        rx.flex(
            rx.flex(
                rx.heading("Transcript", size="4", as_="h2"),
                rx.spacer(),
                rx.cond(
                    S.audio_url == "",
                    rx.button(
                        rx.icon("headphones", size=14),
                        "Listen",
                        size="1",
                        variant="soft",
                        on_click=S.listen,
                        data_testid="report-listen",
                    ),
                    rx.el.audio(
                        id="report-audio", src=S.audio_url, controls=True, style={"height": "32px"}
                    ),
                ),
                align="center",
                width="100%",
            ),
            rx.text(
                "Click a sentence of the draft to see (and hear) what it rests on.",
                size="1",
                color_scheme="gray",
            ),
            rx.foreach(
                S.transcript,
                lambda seg: rx.flex(
                    rx.text(seg["time"], size="1", color_scheme="gray", min_width="3em"),
                    rx.text(
                        rx.text.strong(seg["speaker"], ": "),
                        seg["before"],
                        rx.cond(
                            seg["hit"] != "", rx.el.mark(seg["mark"], data_testid="evidence-mark")
                        ),
                        seg["after"],
                        size="2",
                    ),
                    spacing="2",
                    data_testid="report-segment",
                ),
            ),
            direction="column",
            spacing="2",
            max_height="70vh",
            overflow_y="auto",
        ),
        size="3",
        width="100%",
    )


def _changes() -> rx.Component:
    return rx.cond(
        S.show_changes,
        rx.card(
            rx.heading("Changes since the AI draft", size="3", as_="h2"),
            rx.cond(
                S.changes.length() > 0,
                rx.foreach(
                    S.changes,
                    lambda c: rx.text(
                        c["sign"],
                        " ",
                        c["section"],
                        ": ",
                        c["text"],
                        size="2",
                        color_scheme=rx.cond(c["sign"] == "+", "green", "red"),
                        data_testid="report-change",
                    ),
                ),
                rx.text("No changes yet.", size="2", color_scheme="gray"),
            ),
            size="2",
        ),
    )


def _actions(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.cond(
                S.editable,
                rx.flex(
                    rx.button(
                        rx.icon("pen_line", size=14),
                        "Sign report",
                        on_click=S.open_sign,
                        data_testid="report-sign",
                    ),
                    rx.foreach(
                        S.blockers, lambda b: rx.text("• ", b, size="1", color_scheme="red")
                    ),
                    direction="column",
                    spacing="2",
                ),
            ),
            rx.cond(
                S.signed,
                rx.flex(
                    rx.button(
                        rx.icon("file_down", size=14),
                        "Export DOCX",
                        on_click=S.export(False),
                        data_testid="report-export",
                    ),
                    rx.button("Export PDF", variant="soft", on_click=S.export(True)),
                    rx.cond(
                        view["has_docx"].to(bool),
                        rx.button(
                            "Download DOCX",
                            variant="outline",
                            on_click=S.download("docx"),
                            data_testid="report-download",
                        ),
                    ),
                    rx.cond(
                        view["has_pdf"].to(bool),
                        rx.button("Download PDF", variant="outline", on_click=S.download("pdf")),
                    ),
                    rx.cond(
                        view["shared"].to(bool),
                        rx.badge("Shared with the patient", color_scheme="green"),
                        rx.button(
                            "Share with patient",
                            variant="soft",
                            on_click=S.share,
                            data_testid="report-share",
                        ),
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
            ),
            rx.cond(
                S.signed & (view["amended_by_id"].to(str) == ""),
                rx.form(
                    rx.flex(
                        rx.input(
                            name="note",
                            placeholder="What does the amendment correct?",
                            width="100%",
                        ),
                        rx.button("Amend", type="submit", variant="soft"),
                        spacing="2",
                    ),
                    on_submit=S.amend,
                ),
            ),
            rx.cond(
                view["amends_id"].to(str) != "",
                rx.link(
                    "Amends an earlier version", href="/reports?report=" + view["amends_id"].to(str)
                ),
            ),
            rx.cond(
                view["amended_by_id"].to(str) != "",
                rx.link(
                    "Amended — open the newer version",
                    href="/reports?report=" + view["amended_by_id"].to(str),
                ),
            ),
            rx.button(
                rx.cond(S.show_changes, "Hide changes", "Show changes since the draft"),
                variant="ghost",
                size="1",
                on_click=S.toggle_changes,
                data_testid="report-toggle-changes",
            ),
            direction="column",
            spacing="3",
        ),
        size="2",
    )


def _report_view() -> rx.Component:
    view = cast("ObjectVar[dict[str, Any]]", S.report)
    return rx.flex(
        rx.card(
            rx.flex(
                rx.heading(
                    view["number"].to(str),
                    " v",
                    view["version_number"].to(str),
                    size="5",
                    as_="h2",
                    data_testid="report-number",
                ),
                rx.badge(view["status_label"].to(str), variant="soft", data_testid="report-status"),
                rx.text(view["patient_name"].to(str), " · ", view["patient_mrn"].to(str), size="2"),
                rx.text(
                    view["template"].to(str),
                    " v",
                    view["template_version"].to(str),
                    size="2",
                    color_scheme="gray",
                ),
                rx.link(
                    "Scribe session", href="/scribe?session=" + view["session_id"].to(str), size="2"
                ),
                spacing="3",
                align="center",
                wrap="wrap",
            ),
            size="2",
        ),
        _banner(view),
        alert(S.form_error, testid="report-error"),
        alert(S.notice, testid="report-notice", color="green", icon="check"),
        rx.grid(
            _draft_column(view),
            _transcript_column(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        _changes(),
        _actions(view),
        step_up_dialog(S, what="report", button="Sign report"),
        direction="column",
        spacing="4",
    )


def reports_page() -> rx.Component:
    return shell(
        "reports",
        page_header(
            "Reports",
            "Notes drafted from recorded consultations: review the evidence, then sign.",
            rx.cond(
                S.has_report, rx.link(rx.button("All reports", variant="soft"), href="/reports")
            ),
        ),
        rx.cond(
            S.missing,
            empty_state(
                "search_x",
                "Report not found",
                "It does not exist or is not yours.",
                testid="report-missing",
            ),
            rx.cond(S.has_report, _report_view(), _listing()),
        ),
    )
