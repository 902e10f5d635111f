"""Hooks into Reflex's event processing: a correlation id and a latency sample per UI event.

Reflex 0.10 has no post-event middleware hook, so the module-level ``process_event`` of its
state processor is wrapped once at app start. The wrapper only adds a context variable and a
timer; if a Reflex upgrade renames the function, ``instrument_events`` raises at startup instead
of silently measuring nothing.
"""

from __future__ import annotations

import functools
from typing import Any

from reflex_base.event.processor import base_state_processor

from clinic_app.observability import correlation_scope, timed_event

_MARK = "_clinic_instrumented"


def instrument_events() -> None:
    original = base_state_processor.process_event
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    async def process_event(*args: Any, **kwargs: Any) -> Any:
        handler = kwargs.get("handler", args[0] if args else None)
        name = getattr(getattr(handler, "fn", None), "__qualname__", "unknown")
        with correlation_scope(), timed_event(name):
            return await original(*args, **kwargs)

    setattr(process_event, _MARK, True)
    base_state_processor.process_event = process_event
