"""HTTP routes mounted on the Reflex backend (health, downloads, uploads)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route


def build_api() -> Starlette:
    """The Starlette app Reflex mounts in front of its own routes (``api_transformer``)."""
    routes: list[Route] = []
    return Starlette(routes=routes)
