"""``/scribe``: record a consultation (consent first), then read its transcript."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import alert, empty_state
from pages.components.shell import page_header, shell
from state.scribe import ScribeState as S


def _sessions() -> rx.Component:
    return rx.card(
        rx.cond(
            S.sessions.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in ("Session", "Patient", "Started", "Status")
                        ]
                    )  # fmt: skip
                ),
                rx.table.body(
                    rx.foreach(
                        S.sessions,
                        lambda row: rx.table.row(
                            rx.table.cell(
                                rx.link(row["number"], href="/scribe?session=" + row["id"])
                            ),
                            rx.table.cell(row["patient"]),
                            rx.table.cell(row["started"]),
                            rx.table.cell(rx.badge(row["status_label"], variant="soft")),
                            data_testid="scribe-session-row",
                        ),
                    )
                ),
                width="100%",
            ),
            empty_state(
                "mic",
                "No recorded consultations yet",
                "Start from the worklist (a patient in consultation → Scribe) or from a "
                "patient's chart (Record consultation).",
                testid="scribe-empty",
            ),
        ),
        size="3",
        data_testid="scribe-sessions",
    )


def _consent() -> rx.Component:
    return rx.card(
        rx.form(
            rx.flex(
                rx.heading("Patient consent", size="4", as_="h2"),
                rx.text(
                    "Ask the patient whether the consultation may be recorded for the note. "
                    "Recording cannot start without their consent.",
                    size="2",
                ),
                rx.radio_group.root(
                    rx.flex(
                        rx.radio_group.item("Verbal", value="verbal"),
                        rx.radio_group.item("Written form", value="written"),
                        rx.radio_group.item("In the portal", value="portal"),
                        spacing="4",
                    ),
                    name="method",
                    default_value="verbal",
                ),
                rx.input(name="chief_complaint", placeholder="Reason for visit (optional)"),
                alert(S.form_error, testid="scribe-error"),
                rx.button(
                    rx.icon("check", size=14),
                    "The patient agrees to be recorded",
                    type="submit",
                    data_testid="scribe-consent",
                ),
                direction="column",
                spacing="3",
                align="start",
            ),
            on_submit=S.record_consent,
            reset_on_submit=False,
        ),
        size="3",
    )


def _action(label: str, icon: str, action: str, **props: Any) -> rx.Component:
    return rx.button(
        rx.icon(icon, size=16),
        label,
        type="button",
        hidden=True,
        custom_attrs={"data-scribe-action": action},
        data_testid=f"scribe-{action}",
        size="3",
        **props,
    )


def _recorder(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    live = (view["status"].to(str) == "in_progress") | (view["status"].to(str) == "paused")
    return rx.card(
        rx.flex(
            rx.flex(
                rx.text("", id="scribe-status", weight="medium", data_testid="scribe-status"),
                rx.cond(
                    live,
                    rx.text(
                        "00:00",
                        id="scribe-elapsed",
                        size="6",
                        weight="bold",
                        data_testid="scribe-elapsed",
                        style={"font_variant_numeric": "tabular-nums"},
                    ),
                ),
                justify="between",
                align="center",
            ),
            rx.cond(
                live,
                rx.box(
                    rx.box(
                        id="scribe-level",
                        height="100%",
                        width="0%",
                        background=rx.color("grass", 9),
                        transition="width 0.2s",
                    ),
                    height="8px",
                    width="100%",
                    background=rx.color("gray", 4),
                    border_radius="4px",
                    overflow="hidden",
                    aria_label="Microphone input level",
                ),
            ),
            rx.text(
                "",
                id="scribe-warning",
                color_scheme="amber",
                size="2",
                role="alert",
                data_testid="scribe-warning",
            ),  # fmt: skip
            rx.text(
                "", id="scribe-pending", size="2", color_scheme="gray", data_testid="scribe-pending"
            ),  # fmt: skip
            rx.flex(
                _action("Start recording", "mic", "start", color_scheme="red"),
                _action("Pause", "pause", "pause", variant="soft"),
                _action("Resume", "play", "resume", variant="soft"),
                _action("Stop and transcribe", "square", "stop"),
                _action("Finish upload", "upload", "finish"),
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                view["status"].to(str) == "in_progress",
                rx.flex(
                    rx.text(
                        "Or upload a finished recording (wav, mp3, m4a, ogg, webm, flac):",
                        size="2",
                        color_scheme="gray",
                    ),
                    rx.el.input(
                        type="file",
                        id="scribe-file",
                        accept=".wav,.mp3,.m4a,.ogg,.webm,.flac,audio/*",
                        aria_label="Upload a recording",
                        data_testid="scribe-file",
                    ),
                    direction="column",
                    spacing="1",
                ),
            ),  # fmt: skip
            rx.button("refresh", id="scribe-refresh", on_click=S.refresh, display="none"),
            direction="column",
            spacing="3",
            id="scribe-root",
            custom_attrs={
                "data-session": view["id"].to(str),
                "data-consented": rx.cond(view["consented"].to(bool), "true", "false"),
                "data-status": view["status"].to(str),
            },
        ),
        size="3",
    )


def _segment(segment: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.cond(
        S.editing == segment["n"],
        rx.form(
            rx.flex(
                rx.flex(
                    rx.code(segment["start"], size="1"),
                    rx.input(
                        name="speaker",
                        default_value=segment["speaker"],
                        width="140px",
                        aria_label="Speaker of this segment",
                    ),
                    spacing="2",
                    align="center",
                ),  # fmt: skip
                rx.text_area(
                    name="text",
                    default_value=segment["text"],
                    rows="3",
                    auto_focus=True,
                    aria_label="What was said",
                    data_testid="scribe-edit-text",
                ),
                rx.input(name="note", placeholder="Note on this correction (optional)"),
                rx.flex(
                    rx.button("Save", type="submit", size="1", data_testid="scribe-edit-save"),
                    rx.button(
                        "Cancel",
                        type="button",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        on_click=S.cancel_edit,
                    ),
                    spacing="2",
                ),  # fmt: skip
                direction="column",
                spacing="2",
            ),
            on_submit=S.save_segment,
            reset_on_submit=False,
        ),
        rx.flex(
            rx.code(segment["start"], size="1"),
            rx.badge(
                segment["speaker"],
                color_scheme=rx.cond(segment["speaker"] == "A", "blue", "orange"),
                variant="soft",
            ),
            rx.text(segment["text"], size="2", flex="1"),
            rx.cond(segment["corrected"] != "", rx.badge("corrected", color_scheme="gray")),
            rx.icon_button(
                rx.icon("pencil", size=12),
                size="1",
                variant="ghost",
                on_click=S.start_edit(segment["n"]),
                aria_label="Correct this segment",
                data_testid="scribe-edit",
            ),
            spacing="2",
            align="start",
            padding="var(--space-1)",
            border_radius="var(--radius-2)",
            cursor="pointer",
            data_testid="scribe-segment",
            custom_attrs={
                "data-segment-start": segment["start_ms"],
                "data-segment-end": segment["end_ms"],
            },
        ),
    )


def _player() -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.button(rx.icon("play", size=14), "Listen", size="1", variant="soft",
                      on_click=S.listen, data_testid="scribe-listen"),
            rx.text("Click a line to play from there · Alt+K play/pause · Alt+J back 5 s",
                    size="1", color_scheme="gray"),
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        rx.el.audio(id="scribe-audio", controls=True, hidden=True, style={"width": "100%"}),
        rx.form(
            rx.flex(
                rx.text("Rename speaker", size="2"),
                rx.select(S.speakers, name="speaker", size="1", placeholder="Speaker"),
                rx.input(name="name", placeholder="e.g. Doctor", size="1", width="140px"),
                rx.button("Rename", type="submit", size="1", variant="soft",
                          data_testid="scribe-rename"),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            on_submit=S.rename_speaker,
            reset_on_submit=True,
        ),
        direction="column",
        spacing="2",
    )  # fmt: skip


def _live() -> rx.Component:
    return rx.cond(
        S.live_segments.length() > 0,
        rx.flex(
            rx.text("Live transcript — the full pass at Stop replaces it.", size="1",
                    color_scheme="gray"),
            rx.foreach(
                S.live_segments,
                lambda seg: rx.flex(rx.code(seg["start"], size="1"), rx.text(seg["text"], size="2"),
                                    spacing="2", data_testid="scribe-live-segment"),
            ),
            direction="column",
            spacing="1",
            data_testid="scribe-live",
        ),
        rx.text("The transcript appears here during and after the recording.", size="2",
                color_scheme="gray"),
    )  # fmt: skip


def _transcript(view: ObjectVar[dict[str, Any]]) -> rx.Component:
    status = view["transcription_status"].to(str)
    return rx.card(
        rx.flex(
            rx.heading("Transcript", size="4", as_="h2"),
            rx.match(
                status,
                (
                    "failed",
                    rx.flex(
                        alert(view["transcription_error"].to(str), testid="scribe-failed"),
                        rx.button("Try again", on_click=S.retry, data_testid="scribe-retry"),
                        direction="column",
                        spacing="2",
                        align="start",
                    ),
                ),
                (
                    "completed",
                    rx.flex(
                        rx.text(
                            "Audio ",
                            view["audio_length"].to(str),
                            size="2",
                            color_scheme="gray",
                            data_testid="scribe-audio-seconds",
                            custom_attrs={"data-ms": view["audio_ms"].to(str)},
                        ),
                        _player(),
                        alert(S.form_error, testid="scribe-edit-error"),
                        rx.foreach(S.segments, _segment),
                        direction="column",
                        spacing="2",
                        data_testid="scribe-transcript",
                    ),
                ),
                ("", _live()),
                rx.flex(
                    rx.text(view["job_message"].to(str), size="2"),
                    rx.progress(value=view["job_progress"].to(int), max=100),
                    direction="column",
                    spacing="2",
                    data_testid="scribe-progress",
                ),
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def _report_card() -> rx.Component:
    """Draft a report from the finished transcript, with a template of the doctor's choice."""
    return rx.card(
        rx.flex(
            rx.heading("Report", size="4", as_="h2"),
            rx.form(
                rx.flex(
                    rx.el.select(
                        rx.foreach(
                            S.templates,
                            lambda t: rx.el.option(
                                t["name"], value=t["id"], selected=t["default"] != ""
                            ),
                        ),
                        name="template",
                        aria_label="Template",
                        data_testid="scribe-template",
                        style={"padding": "6px", "border_radius": "6px"},
                    ),
                    rx.button(
                        rx.icon("sparkles", size=14),
                        "Draft report",
                        type="submit",
                        data_testid="scribe-draft-report",
                    ),  # fmt: skip
                    spacing="3",
                    align="center",
                    wrap="wrap",
                ),
                on_submit=S.draft_report,
            ),
            rx.foreach(
                S.session_reports,
                lambda r: rx.flex(
                    rx.link("Version ", r["version_number"], href="/reports?report=" + r["id"]),
                    rx.badge(r["status_label"], variant="soft"),
                    spacing="2",
                    data_testid="scribe-report",
                ),
            ),
            direction="column",
            spacing="3",
        ),
        size="3",
    )


def _session_view() -> rx.Component:
    view = cast("ObjectVar[dict[str, Any]]", S.consultation)
    return rx.flex(
        rx.card(
            rx.flex(
                rx.flex(
                    rx.heading(
                        view["number"].to(str), size="5", as_="h2", data_testid="scribe-number"
                    ),
                    rx.badge(view["status_label"].to(str), variant="soft"),
                    spacing="3",
                    align="center",
                ),  # fmt: skip
                rx.text(view["patient_name"].to(str), " · ", view["patient_mrn"].to(str)),
                rx.flex(
                    rx.link("Open chart", href="/chart?patient=" + view["patient_id"].to(str)),
                    rx.link(
                        "Prescribe",
                        href="/prescriptions?patient=" + view["patient_id"].to(str),
                        data_testid="scribe-prescribe",
                    ),
                    spacing="4",
                ),
                direction="column",
                spacing="2",
            ),
            size="3",
        ),
        rx.cond(
            view["consented"].to(bool),
            rx.fragment(),
            rx.cond(view["status"].to(str) == "in_progress", _consent()),
        ),
        rx.cond(view["consented"].to(bool), _recorder(view)),
        _transcript(view),
        rx.cond(view["transcription_status"].to(str) == "completed", _report_card()),
        rx.script(src="/scribe_recorder.js"),
        direction="column",
        spacing="4",
    )


def scribe_page() -> rx.Component:
    return shell(
        "scribe",
        page_header(
            "Scribe",
            "Record the consultation in the browser; the transcript is made on this server.",
            rx.cond(
                S.has_session, rx.link(rx.button("All sessions", variant="soft"), href="/scribe")
            ),
        ),  # fmt: skip
        rx.cond(
            S.missing,
            empty_state(
                "search_x",
                "Session not found",
                "It does not exist or is not yours.",
                testid="scribe-missing",
            ),
            rx.cond(S.has_session, _session_view(), _sessions()),
        ),  # fmt: skip
    )
