"""The Redis connection used for RQ queues, rate limits and live updates."""

from __future__ import annotations

import functools

from redis import Redis

from clinic_app.settings import get_settings


@functools.cache
def get_redis() -> Redis:
    """A client for the configured Redis; short timeouts so a dead Redis fails fast."""
    return Redis.from_url(
        get_settings().effective_redis_url, socket_connect_timeout=2, socket_timeout=5
    )
