"""System page state (clinic admins): dependency health, queues, workers, failed jobs + retry."""

from __future__ import annotations

import dataclasses
from typing import Any

import reflex as rx

from clinic_app import jobs
from clinic_app.db import session_scope
from clinic_app.services.system import system_overview
from state.base import AppState


class SystemState(AppState):
    checks: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    queues: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    running: rx.Field[int] = rx.field(0)
    workers: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    failed_jobs: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    refreshing: rx.Field[bool] = rx.field(False)

    @rx.event
    def load(self) -> None:
        actor = self._guard_page("system")
        if actor is None:
            return
        self._refresh(actor)

    @rx.event
    def refresh(self) -> None:
        self._refresh(self._require("system:read"))

    @rx.event
    def retry_job(self, job_id: str) -> None:
        actor = self._require("job:retry")
        with session_scope(clinic_id=actor.clinic_id) as session:
            jobs.retry(session, actor=actor, job_id=str(job_id))
        self.notice = "The job was queued again."
        self._refresh(actor)

    def _refresh(self, actor: Any) -> None:
        with session_scope(clinic_id=actor.clinic_id) as session:
            view = system_overview(session, actor=actor)
        self.checks = [
            {
                "name": name,
                "ok": bool(check.get("ok")),
                "ms": str(check.get("ms") or ""),
                "error": str(check.get("error") or ""),
            }
            for name, check in view.health.items()
        ]
        self.queues = [{"name": name, "waiting": count} for name, count in view.queues.items()]
        self.running = view.running
        self.workers = [dataclasses.asdict(worker) for worker in view.workers]
        self.failed_jobs = [dataclasses.asdict(job) for job in view.failed_jobs]
