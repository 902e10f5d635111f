"""``/``: sends a signed-in user to the worklist, everyone else to sign in."""

from __future__ import annotations

import reflex as rx

from pages.components.feedback import loading_view


def index_page() -> rx.Component:
    return loading_view()
