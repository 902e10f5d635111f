"""``/system``: how the installation is doing — dependencies, queues, workers, failed jobs."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from pages.components.feedback import empty_state
from pages.components.shell import page_header, shell
from state.system import SystemState


def _check(check: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.flex(
        rx.cond(
            check["ok"].to(bool),
            rx.icon("circle_check", color=rx.color("green", 10), size=18),
            rx.icon("circle_x", color=rx.color("red", 10), size=18),
        ),
        rx.text(check["name"].to(str).capitalize(), weight="medium", size="2"),
        rx.cond(
            check["ok"].to(bool),
            rx.text(check["ms"], " ms", size="1", color_scheme="gray"),
            rx.text(check["error"], size="1", color_scheme="red"),
        ),
        align="center",
        spacing="2",
        data_testid="system-check",
    )


def _card(title: str, *children: rx.Component, testid: str) -> rx.Component:
    return rx.card(
        rx.flex(rx.heading(title, size="3", as_="h2"), *children, direction="column", spacing="3"),
        size="2",
        width="100%",
        data_testid=testid,
    )


def _worker_row(worker: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(worker["name"], size="1")),
        rx.table.cell(rx.badge(worker["state"], variant="soft")),
        rx.table.cell(worker["last_heartbeat"]),
        rx.table.cell(rx.text(worker["current_job"], size="1", color_scheme="gray")),
        data_testid="system-worker",
    )


def _failed_row(job: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(job["kind"], weight="medium", size="2")),
        rx.table.cell(job["attempts"]),
        rx.table.cell(rx.text(job["error"], size="1", color_scheme="red")),
        rx.table.cell(rx.text(job["finished"], size="1", color_scheme="gray")),
        rx.table.cell(
            rx.button(
                rx.icon("rotate_ccw", size=14),
                "Retry",
                size="1",
                variant="soft",
                on_click=SystemState.retry_job(job["id"]),
                data_testid="system-retry",
            )
        ),
        data_testid="system-failed-job",
    )


def _table(headers: list[str], body: rx.Component) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(body),
        variant="ghost",
        size="1",
        width="100%",
    )


def system_page() -> rx.Component:
    return shell(
        "system",
        page_header(
            "System",
            "Dependencies, background jobs and workers of this installation",
            rx.button(
                rx.icon("refresh_cw", size=14),
                "Refresh",
                variant="soft",
                on_click=SystemState.refresh,
                data_testid="system-refresh",
            ),
        ),
        rx.grid(
            _card("Dependencies", rx.foreach(SystemState.checks, _check), testid="system-health"),
            _card(
                "Queues",
                rx.foreach(
                    SystemState.queues,
                    lambda q: rx.flex(
                        rx.text(q["name"], size="2"),
                        rx.badge(q["waiting"].to(str), variant="soft"),
                        justify="between",
                    ),
                ),
                rx.flex(
                    rx.text("running now", size="2"),
                    rx.badge(SystemState.running.to(str), variant="soft", color_scheme="blue"),
                    justify="between",
                ),
                testid="system-queues",
            ),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
        ),
        _card(
            "Workers",
            rx.cond(
                SystemState.workers.length() > 0,
                _table(
                    ["Worker", "State", "Last heartbeat", "Current job"],
                    rx.foreach(SystemState.workers, _worker_row),
                ),
                rx.callout(
                    "No worker is running: background jobs (exports, transcription) will wait. "
                    "Start one with `clinic worker`.",
                    icon="triangle_alert",
                    color_scheme="amber",
                ),
            ),
            testid="system-workers",
        ),
        _card(
            "Failed jobs",
            rx.cond(
                SystemState.failed_jobs.length() > 0,
                _table(
                    ["Job", "Attempts", "Last error", "Finished", ""],
                    rx.foreach(SystemState.failed_jobs, _failed_row),
                ),
                empty_state(
                    "circle_check",
                    "No failed jobs",
                    "Jobs that fail after every retry appear here, with their error and a "
                    "Retry button.",
                    testid="system-no-failed",
                ),
            ),
            testid="system-failed",
        ),
    )
