"""Prescriptions page state: an empty state until its issue lands; only the guard runs."""

from __future__ import annotations

import reflex as rx

from state.base import AppState


class PrescriptionsState(AppState):
    @rx.event
    def load(self) -> None:
        self._guard_page("prescriptions")
