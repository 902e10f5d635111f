"""Small hooks into Reflex (and redis-py) internals, installed once at app start.

1. **Event timing and correlation.** Reflex 0.10 has no post-event middleware hook, so the
   module-level ``process_event`` of its state processor is wrapped: each UI event runs in a
   ``correlation_scope`` and its duration feeds the ``clinic_event_latency_seconds`` histogram.
   **Our synchronous handlers run in a worker thread.** Reflex calls a plain ``def`` handler on
   the event loop, so one handler waiting on the database or hashing a password stalls every
   tab of the process, and with the Redis state manager each stalled event keeps its tab's lock
   until it expires. The same wrapper hands the app's own sync handlers (and each step of a sync
   generator handler) to the "handler" threads (``clinic_app.threads``); the tab's lock is
   still held meanwhile, so the state is never touched by two events at once. Reflex's
   built-in handlers stay on the loop.
2. **Reconnect after a backend process dies (scale-out).** Reflex's Redis token manager treats a
   token that still has a socket record in Redis as a *duplicate tab* and hands the browser a new
   token — an empty state, so the user is signed out. A process killed without cleanup leaves
   exactly such records behind. Each backend therefore keeps one Redis connection named after
   its Reflex instance id; when a token's record belongs to an instance with no such connection
   (Redis drops it the moment the process dies), the record is released and the tab keeps its
   token and its state.
3. **A pooled Redis connection is checked without a read (redis-py 8.1's check, backported).**
   Before each command, redis-py 7's asyncio pool checks that the connection it hands out holds
   no unread reply by *reading the socket with a zero timeout*: every Redis command then waits
   one more turn of the event loop, which under load is most of a command's time (measured: 42
   of 72 ms per command at 200 tabs, ``bench/load.py``). redis-py 8.1 checks the parser's and
   the stream's buffers instead (redis/redis-py#4063); Reflex 0.10 caps redis-py below 8, so
   the same check is installed here, and skipped once redis-py has it.
4. **A tab's state is held between events, and written through after each (scale-out).** With
   Reflex's opportunistic lock (``REFLEX_OPLOCK_ENABLED``, set by ``clinic up`` for its
   backends) a process keeps a tab's Redis lock and its state in memory for a few seconds, so
   the tab's next events skip the lock, the read and the unpickling (one Redis round trip per
   event instead of four; README "Operations" has the load figures). Reflex writes that state
   back only when the lease ends, so a killed process would take the tab's last seconds with it
   (a form half filled, a booking made but not shown). Here every event on a held state also
   writes what it touched, in the same fenced save Reflex uses: Redis always has what the tab
   was last sent. A held lock also names its holder (``<lock>_holder``: the process's liveness
   connection and the lock id), so a tab whose process died does not wait for that lock to
   expire (up to 10 s): hook 2 frees it when the tab reconnects, if the holder's connection is
   gone.

All four raise at startup if an upgrade moves what they wrap, instead of silently doing nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import logging
import pickle
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

import redis.asyncio as aioredis
from redis._parsers.hiredis import _AsyncHiredisParser
from reflex.istate.manager.redis import StateManagerRedis
from reflex.istate.manager.token import StateToken
from reflex.state import BaseState
from reflex.utils.token_manager import RedisTokenManager
from reflex_base.event import EventHandler
from reflex_base.event.processor import base_state_processor

from clinic_app import threads
from clinic_app.observability import correlation_scope, timed_event

logger = logging.getLogger(__name__)

_MARK = "_clinic_hooked"
LIVENESS_PREFIX = "clinic-reflex-"


def install_reflex_hooks() -> None:
    _time_events()
    _release_orphaned_tokens_on_link()
    _check_pooled_connections_without_a_read()
    _write_through_held_states()


def _time_events() -> None:
    original = base_state_processor.process_event
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    async def process_event(*args: Any, **kwargs: Any) -> Any:
        if "handler" in kwargs:  # how Reflex 0.10 calls it
            kwargs["handler"] = off_loop(kwargs["handler"])
        handler = kwargs.get("handler", args[0] if args else None)
        name = getattr(getattr(handler, "fn", None), "__qualname__", "unknown")
        with correlation_scope(), timed_event(name):
            return await original(*args, **kwargs)

    setattr(process_event, _MARK, True)
    base_state_processor.process_event = process_event


APP_STATE_PACKAGE = "state."
"""Handlers defined under ``state/`` are ours; only those are moved off the event loop."""

_OFF_LOOP: dict[Any, EventHandler] = {}


def off_loop(handler: EventHandler) -> EventHandler:
    """The same handler, but a sync ``def`` of ours runs in a worker thread (cached per fn)."""
    fn = getattr(handler, "fn", None)
    if (
        fn is None
        or handler.is_background
        or inspect.iscoroutinefunction(fn)
        or inspect.isasyncgenfunction(fn)
        or not str(getattr(fn, "__module__", "")).startswith(APP_STATE_PACKAGE)
    ):
        return handler
    moved = _OFF_LOOP.get(fn)
    if moved is None:
        wrapper = _thread_steps(fn) if inspect.isgeneratorfunction(fn) else _thread_call(fn)
        moved = dataclasses.replace(handler, fn=wrapper, _type_hints=handler._get_type_hints())
        _OFF_LOOP[fn] = moved
    return moved


def _thread_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def call(state: Any, **payload: Any) -> Any:
        return await threads.run("handler", fn, state, **payload)

    return call


def _next_step(steps: Generator[Any, None, Any]) -> tuple[bool, Any]:
    """One step of a generator as (finished, value): StopIteration cannot cross a thread."""
    try:
        return False, next(steps)
    except StopIteration as stop:
        return True, stop.value


def _thread_steps(fn: Callable[..., Generator[Any, None, Any]]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def steps(state: Any, **payload: Any) -> AsyncIterator[Any]:
        generator = fn(state, **payload)
        while True:
            finished, value = await threads.run("handler", _next_step, generator)
            if finished:
                if value is not None:  # a sync generator's return value is chained too
                    yield value
                return
            yield value  # None included: it sends the changes made so far to the browser

    return steps


_liveness_name: list[str] = []  # this process's liveness connection name, once it is open


async def _mark_alive(manager: RedisTokenManager) -> None:
    """Open (once) a Redis connection named after this instance: it lives as long as we do."""
    if getattr(manager, "_clinic_liveness", None) is not None:
        return
    pool = manager.redis.connection_pool
    named = aioredis.ConnectionPool(
        connection_class=pool.connection_class,
        max_connections=1,
        **{**pool.connection_kwargs, "client_name": f"{LIVENESS_PREFIX}{manager.instance_id}"},
    )
    client = aioredis.Redis(connection_pool=named)
    await client.ping()  # type: ignore[misc]  # the stubs type ping as sync-or-async
    manager._clinic_liveness = client  # type: ignore[attr-defined]
    _liveness_name[:] = [f"{LIVENESS_PREFIX}{manager.instance_id}"]


async def _release_if_owner_is_gone(manager: RedisTokenManager, token: str) -> None:
    key = manager._get_redis_key(token)
    raw = await manager.redis.get(key)
    if raw is None:
        return
    try:
        owner = str(pickle.loads(raw).instance_id)  # written by Reflex itself
    except Exception:  # noqa: BLE001 - an unreadable record is left to Reflex
        return
    if owner == manager.instance_id:
        return
    names = {str(client.get("name", "")) for client in await manager.redis.client_list()}
    if f"{LIVENESS_PREFIX}{owner}" not in names:
        logger.info("released the socket record of a stopped backend instance")
        await manager.redis.delete(key)
        await _release_lock_if_holder_is_gone(manager.redis, token, names)


_RELEASE_IF_HELD_BY = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


async def _release_lock_if_holder_is_gone(redis: Any, token: str, alive: set[str]) -> None:
    """Free the tab's state lock held by a process that died (see hook 4)."""
    lock_key = f"{token}_lock"
    holder = await redis.get(f"{lock_key}_holder")
    if holder is None:
        return
    name, _, lock_id = holder.decode().partition("|")
    if name not in alive and await redis.eval(_RELEASE_IF_HELD_BY, 1, lock_key, lock_id):
        logger.info("released the state lock of a stopped backend instance")


def _release_orphaned_tokens_on_link() -> None:
    original = RedisTokenManager.link_token_to_sid
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    async def link_token_to_sid(self: RedisTokenManager, token: str, sid: str) -> str | None:
        try:
            await _mark_alive(self)
            await _release_if_owner_is_gone(self, token)
        except Exception:  # noqa: BLE001 - Redis trouble: fall back to Reflex's own logic
            logger.warning("could not check the owner of a reconnecting tab", exc_info=True)
        return await original(self, token, sid)

    setattr(link_token_to_sid, _MARK, True)
    RedisTokenManager.link_token_to_sid = link_token_to_sid  # type: ignore[method-assign]


async def _has_unread_data(parser: Any) -> bool:
    """redis-py 8.1's ``can_read``: a reply already parsed or buffered, or a closed stream
    (``parser`` is an ``_AsyncHiredisParser``; its private fields are untyped)."""
    if not parser._connected:
        raise OSError("Buffer is closed.")
    stream = parser._stream
    return bool(parser._reader.has_data() or stream.at_eof() or stream._buffer)


def _check_pooled_connections_without_a_read() -> None:
    if hasattr(_AsyncHiredisParser, "can_read"):
        return  # redis-py 8.1 or newer checks this way itself
    original = _AsyncHiredisParser.can_read_destructive
    if getattr(original, _MARK, False):
        return
    used = set(original.__code__.co_names) | set(
        _AsyncHiredisParser.read_from_socket.__code__.co_names
    )
    if not {"_connected", "_reader", "_stream"} <= used:
        raise RuntimeError("redis-py's hiredis parser changed: review reflex_hooks")
    setattr(_has_unread_data, _MARK, True)
    _AsyncHiredisParser.can_read_destructive = _has_unread_data  # type: ignore[method-assign]


def _touched_states(root: BaseState) -> list[BaseState]:
    """Every state of the tree that changed since it was last written."""
    touched, stack = [], [root]
    while stack:
        state = stack.pop()
        if state._was_touched:
            touched.append(state)
        stack.extend(state.substates.values())
    return touched


def _write_through_held_states() -> None:
    original_cached = StateManagerRedis._get_state_cached
    original_lease = StateManagerRedis._create_lease_break_task
    if getattr(original_cached, _MARK, False):
        return
    if not {"_local_leases", "_cached_states"} <= set(original_lease.__code__.co_names):
        raise RuntimeError("Reflex's opportunistic lock changed: review reflex_hooks")

    @functools.wraps(original_lease)
    async def create_lease(
        self: StateManagerRedis, token: StateToken[Any], lock_id: bytes, *args: Any, **kw: Any
    ) -> Any:
        held: dict[str, bytes] = self.__dict__.setdefault("_clinic_lease_ids", {})
        if len(held) > 1000:  # leases that ended: only live ones are ever read
            for key in [k for k in held if k not in self._local_leases]:
                del held[key]
        lease = await original_lease(self, token, lock_id, *args, **kw)
        if lease is not None:  # the state is now held under this lock
            held[token.lock_key] = lock_id
            if _liveness_name:
                holder = f"{_liveness_name[0]}|{lock_id.decode()}"
                lock_key = self._lock_key(token)
                await self.redis.set(lock_key + b"_holder", holder, px=self.lock_expiration)
        return lease

    @contextlib.asynccontextmanager
    async def get_state_cached(
        self: StateManagerRedis, token: StateToken[Any]
    ) -> AsyncIterator[Any]:
        async with original_cached(self, token) as state:
            yield state
            # Still under the held state's local lock: nothing else changes it meanwhile.
            if state is not None and (touched := _touched_states(state)):
                lock_id = self.__dict__["_clinic_lease_ids"][token.lock_key]
                await self.set_state(token, state, lock_id=lock_id)
                for written in touched:
                    written._was_touched = False

    setattr(get_state_cached, _MARK, True)
    StateManagerRedis._create_lease_break_task = create_lease  # type: ignore[method-assign]
    StateManagerRedis._get_state_cached = get_state_cached  # type: ignore[method-assign]
