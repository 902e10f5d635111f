"""Fixed-window rate limits in Redis (failed sign-ins per account and per IP, codes sent)."""

from __future__ import annotations

import hashlib
import logging
from typing import cast

from redis.exceptions import RedisError

from clinic_app.redis_conn import get_redis

logger = logging.getLogger(__name__)


def _key(scope: str, subject: str) -> str:
    # Hashed: emails and IPs do not appear as Redis keys.
    digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
    return f"clinic:ratelimit:{scope}:{digest}"


def hit(scope: str, subject: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt; False when this attempt is over the limit for the current window.

    A Redis outage allows the attempt (logged): the per-account lockout in the database still
    stops password guessing, and staff can still sign in while Redis restarts.
    """
    key = _key(scope, subject)
    try:
        pipe = get_redis().pipeline()
        pipe.incr(key)
        pipe.expire(key, window_seconds, nx=True)
        count, _ = pipe.execute()
    except RedisError:
        logger.warning("rate limit not checked: Redis unavailable (%s)", scope)
        return True
    return int(count) <= limit


def exceeded(scope: str, subject: str, *, limit: int) -> bool:
    """True when the current window already holds ``limit`` counted attempts (nothing counted)."""
    try:
        count = cast("bytes | None", get_redis().get(_key(scope, subject)))
    except RedisError:
        logger.warning("rate limit not checked: Redis unavailable (%s)", scope)
        return False
    return int(count or 0) >= limit


def reset(scope: str, subject: str) -> None:
    try:
        get_redis().delete(_key(scope, subject))
    except RedisError:
        logger.warning("rate limit not reset: Redis unavailable (%s)", scope)
