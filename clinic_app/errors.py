"""Errors that carry a stable code the UI and HTTP routes turn into a friendly message."""

from __future__ import annotations

import uuid
from typing import Any


class AppError(Exception):
    """A failure the user can understand: ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(AppError):
    def __init__(self, what: str) -> None:
        super().__init__("NOT_FOUND", f"{what} was not found.")


def parse_id(value: object, what: str) -> uuid.UUID:
    """An id from the browser or a URL; anything that is not a UUID is simply NOT_FOUND."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(what) from None


class Forbidden(AppError):
    def __init__(self, message: str = "You do not have permission to do this.") -> None:
        super().__init__("FORBIDDEN", message)


class ConfigError(Exception):
    """Wrong or missing setting, reported once at startup with the variable's name."""
