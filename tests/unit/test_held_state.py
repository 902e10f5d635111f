"""A tab's state held between events (Reflex's opportunistic lock) is written through each time.

In scale-out mode a process keeps a tab's Redis lock and state in memory for a few seconds
(``REFLEX_OPLOCK_ENABLED``); ``reflex_hooks`` writes what each event touched straight back, so
Redis has the tab's state even while it is held, and a process that dies loses nothing. The
held lock names its holder, so a reconnecting tab frees the lock of a dead process at once.
"""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis
from reflex.istate.manager.redis import StateManagerRedis
from reflex.istate.manager.token import BaseStateToken

from clinic_app.api import reflex_hooks
from state.bench_counter import BenchCounterState
from tests.async_run import run_async

COUNTER_PATH = BenchCounterState.get_full_name().split(".")


def _manager(redis_url: str, *, held: bool) -> StateManagerRedis:
    reflex_hooks.install_reflex_hooks()
    manager = StateManagerRedis(redis=aioredis.Redis.from_url(redis_url))
    manager._oplock_enabled = held
    return manager


async def _count_once(manager: StateManagerRedis, token: BaseStateToken) -> None:
    await manager._ensure_lock_task_subscribed()  # a lease is only taken once subscribed
    async with manager.modify_state(token) as root:
        root.get_substate(COUNTER_PATH).count += 1


def test_every_event_on_a_held_state_is_written_to_redis(redis_url: str) -> None:
    async def run() -> tuple[list[int], bool]:
        holder, reader = _manager(redis_url, held=True), _manager(redis_url, held=False)
        token = BaseStateToken(ident=str(uuid.uuid4()), cls=BenchCounterState)
        seen = []
        try:
            for _ in range(3):
                await _count_once(holder, token)
                stored = await reader.get_state(token)  # straight from Redis, no lock
                seen.append(stored.get_substate(COUNTER_PATH).count)
            still_held = token.lock_key in holder._local_leases
        finally:
            await holder.close()
            await reader.close()
        return seen, still_held

    seen, still_held = run_async(run())
    assert still_held  # the lease was not given up in between: this is the held path
    assert seen == [1, 2, 3]


def test_a_held_lock_is_freed_only_when_its_holder_is_gone(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder_name = f"{reflex_hooks.LIVENESS_PREFIX}test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(reflex_hooks, "_liveness_name", [holder_name])

    async def run() -> tuple[bool, bool]:
        manager = _manager(redis_url, held=True)
        redis = aioredis.Redis.from_url(redis_url)
        token = BaseStateToken(ident=str(uuid.uuid4()), cls=BenchCounterState)
        lock_key = f"{token.ident}_lock"
        try:
            await _count_once(manager, token)
            await reflex_hooks._release_lock_if_holder_is_gone(redis, token.ident, {holder_name})
            kept = await redis.exists(lock_key) == 1
            await reflex_hooks._release_lock_if_holder_is_gone(redis, token.ident, set())
            freed = await redis.exists(lock_key) == 0
        finally:
            await manager.close()
            await redis.aclose()
        return kept, freed

    kept, freed = run_async(run())
    assert kept  # its holder is alive: the lock stays
    assert freed  # its holder is gone: the lock is freed, nobody waits for it to expire
